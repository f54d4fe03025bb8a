import Foundation

/// What a request's `Authorization` header presents: a bearer token
/// (RFC 6750) or a user name and password (basic, RFC 7617). The listener
/// only reads them; deciding whether they are good is `MetricsServer.Access`'s
/// closure, which the broker composes from its token or password file.
public enum HTTPCredentials: Sendable, Equatable {
    case bearer(token: [UInt8])
    case basic(user: String, password: [UInt8])

    /// The scheme these credentials were sent with.
    public var scheme: MetricsServer.Access.Scheme {
        switch self {
        case .bearer: .bearer
        case .basic: .basic
        }
    }

    /// Reads an `Authorization` header's value; nil for an unknown scheme or
    /// a malformed value (no credentials, bad base64, no colon, not UTF-8
    /// user name), which the listener answers like missing credentials.
    public init?(authorization value: String) {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return nil }
        let credentials = trimmed[space...].trimmingCharacters(in: .whitespaces)
        guard !credentials.isEmpty else { return nil }
        // Scheme names are case-insensitive (RFC 9110 section 11.1).
        switch trimmed[..<space].lowercased() {
        case "bearer":
            self = .bearer(token: Array(credentials.utf8))
        case "basic":
            guard let decoded = Data(base64Encoded: credentials).map(Array.init),
                let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
                let user = String(validating: decoded[..<colon], as: UTF8.self)
            else { return nil }
            self = .basic(user: user, password: Array(decoded[(colon + 1)...]))
        default:
            return nil
        }
    }
}
