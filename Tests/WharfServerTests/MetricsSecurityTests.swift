import Foundation
import Testing
import WharfServer

/// `[metrics]` TLS and credentials: the config rules, the token and password
/// files, and what a reload keeps when a new file is broken.
@Suite struct MetricsSecurityTests {
    /// A directory of its own per test, removed by the caller.
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write(_ text: String, to url: URL, mode: Int = 0o600) throws {
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    static func error(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    /// The keys are read, paths relative to the config file, health checks open by default.
    @Test func readsTheKeys() throws {
        let config = try ConfigFileLoader.parse(
            """
            [metrics]
            tls_cert = "metrics.crt"
            tls_key = "/keys/metrics.key"
            token_file = "metrics.token"
            """, file: "/etc/wharf/wharf.toml")
        let security = config.metricsSecurity
        #expect(security.tlsCert == "/etc/wharf/metrics.crt" && security.tlsKey == "/keys/metrics.key")
        #expect(security.tokenFile == "/etc/wharf/metrics.token" && security.passwordFile == nil)
        #expect(security.openHealthChecks)
        let closed = try ConfigFileLoader.parse("[metrics]\nopen_health_checks = false", file: "wharf.toml")
        #expect(!closed.metricsSecurity.openHealthChecks)
    }

    /// A token and a password file together, or half a TLS pair: refused, naming the keys.
    @Test func conflictingKeysAreRefused() throws {
        func problem(_ text: String) throws -> (key: String, problem: String)? {
            try ConfigFileLoader.parse(text, file: "wharf.toml").metricsSecurity.problem
        }
        let both = try #require(try problem("[metrics]\ntoken_file = \"t\"\npassword_file = \"p\""))
        #expect(both.key == "metrics.password_file" && both.problem.contains("metrics.token_file"))
        let certOnly = try #require(try problem("[metrics]\ntls_cert = \"c\""))
        #expect(certOnly.key == "metrics.tls_cert" && certOnly.problem.contains("metrics.tls_key"))
        #expect(try problem("[metrics]\ntls_key = \"k\"")?.key == "metrics.tls_key")
        #expect(try problem("[metrics]\ntls_key = \"k\"\ntls_cert = \"c\"\ntoken_file = \"t\"") == nil)
        // The listener's setup refuses them too, for a config built in code.
        var settings = MetricsSecuritySettings()
        settings.tokenFile = "t"
        settings.passwordFile = "p"
        #expect(Self.error { _ = try MetricsCredentials.load(settings) }.contains("metrics.token_file"))
        settings.passwordFile = nil
        settings.tlsKey = "k"
        #expect(Self.error { _ = try MetricsTLS.load(settings) }.contains("metrics.tls_key"))
    }

    /// The token is the file's content trimmed; only it matches.
    @Test func tokenIsTheTrimmedFile() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("token")
        try Self.write("  s3cret-token\n\n", to: file)
        let token = try BearerToken(path: file.path, key: "metrics.token_file")
        #expect(token.matches(Array("s3cret-token".utf8)))
        for wrong in ["s3cret-toke", "s3cret-token ", "s3cret-tokenx", "", "  s3cret-token\n\n"] {
            #expect(!token.matches(Array(wrong.utf8)), "\(wrong)")
        }
    }

    /// An empty, world-readable or missing token file is refused with its path, key and reason.
    @Test func unusableTokenFilesAreRefused() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty")
        try Self.write(" \n", to: empty)
        let emptyError = Self.error { _ = try BearerToken(path: empty.path, key: "metrics.token_file") }
        #expect(emptyError.contains(empty.path) && emptyError.contains("metrics.token_file") && emptyError.contains("holds no token"))
        let open = dir.appendingPathComponent("open")
        try Self.write("s3cret", to: open, mode: 0o644)
        let openError = Self.error { _ = try BearerToken(path: open.path, key: "metrics.token_file") }
        #expect(openError.contains("readable by every user") && openError.contains("chmod 600"), "\(openError)")
        try Self.write("s3cret", to: open, mode: 0o640)
        #expect(Self.error { _ = try BearerToken(path: open.path, key: "metrics.token_file") } == "no error")
        let missing = Self.error { _ = try BearerToken(path: dir.appendingPathComponent("none").path, key: "metrics.token_file") }
        #expect(missing.contains("cannot be read"), "\(missing)")
    }

    /// SIGHUP's reload swaps the token; a broken new file leaves the old one in force.
    @Test func reloadSwapsTheTokenAndKeepsItWhenBroken() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("token")
        try Self.write("first", to: file)
        var settings = MetricsSecuritySettings()
        settings.tokenFile = file.path
        let credentials = try #require(try MetricsCredentials.load(settings))
        #expect(credentials.scheme == .bearer)
        #expect(credentials.accepts(token: Array("first".utf8)))
        try Self.write("second\n", to: file)
        try credentials.reload()
        #expect(credentials.accepts(token: Array("second".utf8)) && !credentials.accepts(token: Array("first".utf8)))
        try Self.write("", to: file)
        #expect(Self.error { try credentials.reload() }.contains("holds no token"))
        #expect(credentials.accepts(token: Array("second".utf8)))
        #expect(!credentials.accepts(user: "second", password: Array("second".utf8)))
    }

    /// Basic auth through a password file: a broken reload keeps the old file,
    /// and a file without users is refused.
    @Test func passwordFileCredentials() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("passwd")
        try Self.write("prometheus:" + PasswordHash(password: Array("scrape".utf8)).encoded + "\n", to: file, mode: 0o644)
        var settings = MetricsSecuritySettings()
        settings.passwordFile = file.path
        let credentials = try #require(try MetricsCredentials.load(settings))
        #expect(credentials.scheme == .basic)
        #expect(credentials.accepts(user: "prometheus", password: Array("scrape".utf8)))
        #expect(!credentials.accepts(user: "prometheus", password: Array("scrap".utf8)))
        #expect(!credentials.accepts(token: Array("scrape".utf8)))
        try Self.write("prometheus:not a hash\n", to: file)
        let broken = Self.error { try credentials.reload() }
        #expect(broken.contains("metrics.password_file") && broken.contains(":1"), "\(broken)")
        #expect(credentials.accepts(user: "prometheus", password: Array("scrape".utf8)))
        try Self.write("# nobody\n", to: file)
        #expect(Self.error { _ = try MetricsCredentials.load(settings) }.contains("holds no users"))
    }

    static let alice = try! PasswordFile(text: "alice:" + PasswordHash(password: Array("s3cret".utf8)).encoded, file: "passwd")

    /// The slow hash runs once per password, not once per request.
    @Test func verifiedPasswordsAreRemembered() {
        let verifier = BasicAuthVerifier(passwords: Self.alice, now: 0)
        for second in 0..<5 {
            #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: UInt64(second) * 15_000_000_000))
        }
        #expect(verifier.slowChecks == 1)
        // A wrong password is checked (and not remembered); the right one still is.
        #expect(!verifier.verify(user: "alice", password: Array("guess".utf8), now: 100_000_000_000))
        #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 100_000_000_000))
        #expect(verifier.slowChecks == 2)
        #expect(!verifier.verify(user: "bob", password: Array("s3cret".utf8), now: 200_000_000_000))
        // A reload forgets: the password may have changed.
        verifier.replace(Self.alice)
        #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 300_000_000_000))
        #expect(verifier.slowChecks == 4)
    }

    /// Guesses past the budget are refused unchecked, while remembered
    /// credentials still pass; the budget refills with time.
    @Test func slowChecksAreBudgeted() {
        let verifier = BasicAuthVerifier(passwords: Self.alice, slowChecksPerSecond: 3, now: 0)
        #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 0))
        for guess in 0..<10 { #expect(!verifier.verify(user: "alice", password: Array("guess \(guess)".utf8), now: 1)) }
        #expect(verifier.slowChecks == 3)
        #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 2))
        // Budget spent: even the right password for an unremembered user waits for it.
        verifier.replace(Self.alice)
        #expect(!verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 3))
        #expect(verifier.verify(user: "alice", password: Array("s3cret".utf8), now: 1_000_000_000))
        #expect(verifier.slowChecks == 4)
    }
}
