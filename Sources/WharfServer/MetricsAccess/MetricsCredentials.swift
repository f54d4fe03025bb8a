import Synchronization

/// What the metrics listener asks requests for: the bearer token of
/// `[metrics] token_file`, or a user of `password_file` (basic auth).
/// Read at start, where a file that cannot be used stops the broker with its
/// name and why; re-read on SIGHUP (`reload`), where such a file is reported
/// and the credentials in force stay.
public final class MetricsCredentials: Sendable {
    public enum Scheme: Sendable {
        case bearer
        case basic
    }

    private enum Source: Sendable {
        case token(path: String)
        case passwords(path: String, BasicAuthVerifier)
    }

    public let scheme: Scheme
    /// The file the credentials come from.
    public let path: String
    private let source: Source
    private let token: Mutex<BearerToken?>

    /// nil when `[metrics]` asks for no credentials.
    public static func load(_ settings: MetricsSecuritySettings) throws(ConfigFileError) -> MetricsCredentials? {
        if let conflict = settings.problem { throw ConfigFileError(file: "[metrics]", key: conflict.key, problem: conflict.problem) }
        if let path = settings.tokenFile {
            return MetricsCredentials(token: try BearerToken(path: path, key: ConfigKeys.Metrics.tokenFile.path))
        }
        if let path = settings.passwordFile {
            return MetricsCredentials(passwords: try Self.passwords(path), path: path)
        }
        return nil
    }

    private init(token: BearerToken) {
        scheme = .bearer
        path = token.path
        source = .token(path: token.path)
        self.token = Mutex(token)
    }

    private init(passwords: PasswordFile, path: String) {
        scheme = .basic
        self.path = path
        source = .passwords(path: path, BasicAuthVerifier(passwords: passwords))
        token = Mutex(nil)
    }

    /// Re-reads the file; throws what is wrong with a new one, and then the
    /// one read before stays in force.
    public func reload() throws(ConfigFileError) {
        switch source {
        case .token(let path):
            let fresh = try BearerToken(path: path, key: ConfigKeys.Metrics.tokenFile.path)
            token.withLock { $0 = fresh }
        case .passwords(let path, let verifier):
            verifier.replace(try Self.passwords(path))
        }
    }

    /// True when `presented` is the bearer token (false under basic auth).
    public func accepts(token presented: [UInt8]) -> Bool {
        token.withLock { $0?.matches(presented) ?? false }
    }

    /// True when `user` and `password` match the password file (false under
    /// a bearer token). Cheap for credentials seen before; see `BasicAuthVerifier`.
    public func accepts(user: String, password: [UInt8]) -> Bool {
        guard case .passwords(_, let verifier) = source else { return false }
        return verifier.verify(user: user, password: password)
    }

    /// The password file, with errors named by its `[metrics]` key. A file
    /// without users is refused: it could only ever answer 401.
    private static func passwords(_ path: String) throws(ConfigFileError) -> PasswordFile {
        let key = ConfigKeys.Metrics.passwordFile.path
        let file: PasswordFile
        do {
            file = try PasswordFile(path: path)
        } catch {
            throw ConfigFileError(file: error.file, key: key, line: error.line, problem: error.problem)
        }
        guard file.userCount > 0 else {
            throw ConfigFileError(
                file: path, key: key, problem: "holds no users, so every request would be refused; add one with wharf passwd")
        }
        return file
    }
}
