/// Why `wharf passwd` refuses a user name, a password or an edit. Each
/// refusal stops something that would be written but then not work: a line
/// the file's readers split or trim differently, or a login that can never
/// succeed.
public enum PasswordFileEditError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyUserName
    /// The file's separator: `a:b` would be read as user `a`.
    case userNameContainsColon
    /// A newline would split the line; other control characters are
    /// refused by `mosquitto_passwd` too.
    case userNameContainsControlCharacter
    /// Mosquitto trims blanks around a user name when it reads the file, so
    /// ` alice` would be stored but never match.
    case userNameHasSurroundingSpaces
    /// Mosquitto's limit for a user name (and MQTT's for a string).
    case userNameTooLong
    /// MQTT allows an empty password, but a hash of nothing protects nothing.
    case emptyPassword
    /// Mosquitto hashes a password as a C string, so it would stop at the NUL.
    case passwordContainsNUL
    case noSuchUser(String)

    public var description: String {
        switch self {
        case .emptyUserName: "the user name is empty"
        case .userNameContainsColon: "user names must not contain ':' (it separates the name from the hash)"
        case .userNameContainsControlCharacter: "user names must not contain control characters"
        case .userNameHasSurroundingSpaces: "user names must not start or end with a space (Mosquitto trims them)"
        case .userNameTooLong: "user names must be shorter than 65536 bytes"
        case .emptyPassword: "empty passwords are refused"
        case .passwordContainsNUL: "passwords must not contain a NUL byte"
        case .noSuchUser(let user): "user '\(user)' is not in the password file"
        }
    }
}
