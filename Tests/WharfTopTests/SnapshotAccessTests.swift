import Foundation
import Testing

@testable import WharfTop

/// `wharf top`'s https URLs, `--ca-file` and `--token-file`, and what it says when access fails.
@Suite struct SnapshotAccessTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-top-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func httpsURLs() throws {
        let endpoint = try SnapshotEndpoint(parsing: "https://broker.example:18883/metrics")
        #expect(endpoint.usesTLS && endpoint.host == "broker.example" && endpoint.port == 18883)
        #expect(endpoint.url == "https://broker.example:18883")
        #expect(endpoint.serverHostname == "broker.example")
        // SNI cannot carry an address: the certificate is checked against the address instead.
        #expect(try SnapshotEndpoint(parsing: "https://127.0.0.1:18883").serverHostname == nil)
        #expect(try SnapshotEndpoint(parsing: "https://[::1]:18883").serverHostname == nil)
        #expect(try !SnapshotEndpoint(parsing: "127.0.0.1:18883").usesTLS)
        #expect(throws: EndpointError.self) { try SnapshotEndpoint(parsing: "ftp://127.0.0.1:18883") }
    }

    /// The token is the file trimmed, sent as a bearer token.
    @Test func tokenFile() throws {
        let path = try Self.file("s3cret\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let access = try SnapshotAccess(caFile: nil, tokenFile: path, needsTLS: false)
        #expect(access.authorization == "Bearer s3cret" && access.tls == nil)
    }

    /// Files that cannot be used are refused before the screen starts, naming the option and the file.
    @Test func unusableFilesAreRefused() throws {
        let empty = try Self.file("\n")
        let notPEM = try Self.file("not a certificate\n")
        let split = try Self.file("two\nlines\n")
        defer { for path in [empty, notPEM, split] { try? FileManager.default.removeItem(atPath: path) } }
        func problem(caFile: String? = nil, tokenFile: String? = nil, needsTLS: Bool = true) -> String {
            do {
                _ = try SnapshotAccess(caFile: caFile, tokenFile: tokenFile, needsTLS: needsTLS)
                return "no error"
            } catch {
                return error.description
            }
        }
        #expect(problem(tokenFile: empty) == "--token-file \(empty): holds no token (it is empty or only whitespace)")
        #expect(problem(tokenFile: split).contains("line break"))
        #expect(problem(tokenFile: "/nonexistent/token").hasPrefix("--token-file /nonexistent/token: cannot be read"))
        #expect(problem(caFile: notPEM).hasPrefix("--ca-file \(notPEM): "))
        #expect(problem(caFile: notPEM, needsTLS: false).contains("applies to https URLs only"))
        #expect(problem() == "no error")
    }

    /// A 401 tells the user which option to look at.
    @Test func unauthorizedSaysWhatToCheck() throws {
        let endpoint = try SnapshotEndpoint(parsing: "https://127.0.0.1:18883")
        #expect(FetchFailure(endpoint: endpoint, sentToken: true).describe(.unauthorized).hasPrefix("unauthorized: check --token-file"))
        #expect(FetchFailure(endpoint: endpoint, sentToken: false).describe(.unauthorized).contains("none was given"))
        #expect(FetchFailure(endpoint: endpoint, sentToken: false).describe(.notFound) == "HTTP 404 from /api/v1/snapshot")
    }
}
