import Foundation
import NIOSSL

/// How `wharf top` reaches metrics listeners that are protected: the roots
/// an https listener's certificate must chain to (`--ca-file`, else the
/// system's), and the bearer token sent with every request (`--token-file`).
/// Both are read once, before the screen takes over, so a bad file is a
/// plain error rather than a dashboard that never connects.
public struct SnapshotAccess: Sendable {
    /// For https endpoints; nil when there are none.
    let tls: NIOSSLContext?
    /// The `Authorization` header's value, if a token was given.
    let authorization: String?

    /// Plain HTTP, no token.
    public init() {
        tls = nil
        authorization = nil
    }

    /// - Parameter needsTLS: whether any endpoint is https; a CA file for
    ///   http endpoints only is refused, as it would silently do nothing.
    public init(caFile: String?, tokenFile: String?, needsTLS: Bool) throws(SnapshotAccessError) {
        if let caFile, !needsTLS {
            throw SnapshotAccessError(option: "--ca-file", file: caFile, problem: "applies to https URLs only, and every --url is http")
        }
        tls = needsTLS ? try Self.clientContext(caFile: caFile) : nil
        if let tokenFile {
            authorization = "Bearer \(try Self.token(tokenFile))"
        } else {
            authorization = nil
        }
    }

    /// TLS 1.2 or 1.3, the certificate checked against `caFile` (or the
    /// system's roots) and against the host name or address in the URL.
    static func clientContext(caFile: String?) throws(SnapshotAccessError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw SnapshotAccessError(option: "--ca-file", file: caFile, problem: "cannot be read as PEM certificates (\(error))")
            }
            guard !roots.isEmpty else { throw SnapshotAccessError(option: "--ca-file", file: caFile, problem: "holds no certificate") }
            configuration.trustRoots = .certificates(roots)
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw SnapshotAccessError(
                option: "--ca-file", file: caFile ?? "(system roots)", problem: "does not make a TLS context (\(error))")
        }
    }

    /// The file's content without surrounding whitespace, as the broker and
    /// Prometheus read a token file.
    static func token(_ path: String) throws(SnapshotAccessError) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SnapshotAccessError(option: "--token-file", file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw SnapshotAccessError(option: "--token-file", file: path, problem: "holds no token (it is empty or only whitespace)")
        }
        // A line break or other control character would end or split the header.
        guard !token.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw SnapshotAccessError(
                option: "--token-file", file: path, problem: "the token has a line break or control character inside it")
        }
        return token
    }
}

/// A `--ca-file` or `--token-file` that cannot be used: the option, the file and why.
public struct SnapshotAccessError: Error, CustomStringConvertible {
    public var option: String
    public var file: String
    public var problem: String
    public var description: String { "\(option) \(file): \(problem)" }
}
