import WharfMQTT

/// Why a CONNECT was refused, for the log and the login throttle. The client
/// only ever sees `returnCode`: telling it "unknown user" apart from "wrong
/// password" would let it find out which user names exist.
public enum AuthenticationFailure: Sendable, Equatable, CustomStringConvertible {
    /// No user name, or a user name without a password file to check it
    /// against (then it is only a label, as in Mosquitto), while
    /// `allow_anonymous` is off.
    case anonymousRefused
    /// A user name the password file does not list.
    case unknownUser
    /// A listed user whose password is missing or does not match.
    case wrongPassword

    /// The CONNACK code Authenticator has always answered with: 5 (not
    /// authorized) for anonymous clients, 4 (bad user name or password) for
    /// credentials that do not match.
    public var returnCode: ConnectReturnCode {
        switch self {
        case .anonymousRefused: .notAuthorized
        case .unknownUser, .wrongPassword: .badUsernameOrPassword
        }
    }

    public var description: String {
        switch self {
        case .anonymousRefused: "anonymous refused"
        case .unknownUser: "unknown user"
        case .wrongPassword: "wrong password"
        }
    }
}
