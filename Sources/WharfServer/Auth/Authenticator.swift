import NIOCore
import WharfMQTT

/// Decides whether a CONNECT may proceed, as Mosquitto does with
/// `allow_anonymous` and `password_file`.
public struct Authenticator: Sendable {
    public var allowAnonymous: Bool
    public var passwords: PasswordFile?

    public init(allowAnonymous: Bool = true, passwords: PasswordFile? = nil) {
        self.allowAnonymous = allowAnonymous
        self.passwords = passwords
    }

    /// The authenticator a configuration describes; reads the password file.
    public init(config: ServerConfig) throws(ConfigFileError) {
        self.allowAnonymous = config.allowAnonymous
        self.passwords = try config.passwordFile.map { path throws(ConfigFileError) in try PasswordFile(path: path) }
    }

    /// nil when the client may connect, else why not; the failure's
    /// `returnCode` is the CONNACK refusal code.
    public func authenticate(_ connect: ConnectPacket) -> AuthenticationFailure? {
        guard let user = connect.username else {
            return allowAnonymous ? nil : .anonymousRefused
        }
        guard let passwords else {
            // No password file: a user name is only a label, as in Mosquitto.
            return allowAnonymous ? nil : .anonymousRefused
        }
        guard passwords.contains(user: user) else { return .unknownUser }
        let password = connect.password.map { Array($0.readableBytesView) } ?? []
        return passwords.verify(user: user, password: password) ? nil : .wrongPassword
    }

    /// nil when the client may connect, else the CONNACK refusal code:
    /// 5 (not authorized) for an anonymous client when anonymous access is
    /// off, 4 (bad user name or password) for credentials that do not match.
    public func check(_ connect: ConnectPacket) -> ConnectReturnCode? {
        authenticate(connect)?.returnCode
    }
}
