import Logging
import Synchronization
import WharfCore

/// The password file and the ACL file as configured (`[auth]`), read at
/// start and again on SIGHUP. A file that fails to read is refused with its
/// name, line and reason, and what was in force stays in force: a typo
/// must not lock everyone out, nor let everyone in.
public final class SecurityFiles: Sendable {
    private let config: ServerConfig
    private let authenticator: Mutex<Authenticator>
    /// The ACL in force; nil when no `acl_file` is configured.
    public let accessPolicy: AccessPolicy?

    /// Reads both files; throws what is wrong with either.
    public init(config: ServerConfig) throws(ConfigFileError) {
        self.config = config
        authenticator = Mutex(try Authenticator(config: config))
        accessPolicy = try config.aclFile.map { path throws(ConfigFileError) in AccessPolicy(try Self.readACL(path)) }
    }

    /// What CONNECT is checked against now.
    public var currentAuthenticator: Authenticator { authenticator.withLock { $0 } }

    /// Re-reads the files; logs what changed and what was refused.
    public func reload(logger: Logger) {
        if config.passwordFile != nil {
            do throws(ConfigFileError) {
                let fresh = try Authenticator(config: config)
                authenticator.withLock { $0 = fresh }
                logger.info("password file re-read: \(fresh.passwords?.userCount ?? 0) users")
            } catch {
                logger.error("keeping the password file in force: \(error)")
            }
        }
        if let accessPolicy, let path = config.aclFile {
            do throws(ConfigFileError) {
                let list = try Self.readACL(path)
                accessPolicy.replace(with: list)
                logger.info("ACL file re-read: \(path)")
            } catch {
                logger.error("keeping the ACL in force: \(error)")
            }
        }
    }

    private static func readACL(_ path: String) throws(ConfigFileError) -> AccessControlList {
        do {
            return try AccessControlList(path: path)
        } catch {
            throw ConfigFileError(file: error.file, line: error.line, problem: error.problem)
        }
    }
}
