import Crypto
import Foundation
import _CryptoExtras

/// User names and password hashes in Mosquitto's password-file format, so a
/// file made with `mosquitto_passwd` works unchanged:
///
///     alice:$7$101$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>
///     bob:$6$<base64 salt>$<base64 SHA-512(password + salt)>
///
/// Blank lines and lines starting with `#` are ignored.
public struct PasswordFile: Sendable {
    enum Hash: Sendable {
        case pbkdf2SHA512(iterations: Int, salt: Data, hash: Data)
        case sha512(salt: Data, hash: Data)
    }

    private let entries: [String: Hash]

    public var userCount: Int { entries.count }

    public init(path: String) throws(ConfigFileError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigFileError(file: path, problem: "password file cannot be read (\(error.localizedDescription))")
        }
        try self.init(text: text, file: path)
    }

    public init(text: String, file: String) throws(ConfigFileError) {
        var entries: [String: Hash] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw ConfigFileError(file: file, line: index + 1, problem: "expected user:hash")
            }
            let user = String(line[..<colon])
            guard let hash = Self.parseHash(line[line.index(after: colon)...]) else {
                throw ConfigFileError(
                    file: file, line: index + 1,
                    problem: "hash for user '\(user)' is not in mosquitto_passwd format ($7$iterations$salt$hash or $6$salt$hash)"
                )
            }
            entries[user] = hash
        }
        self.entries = entries
    }

    private static func parseHash(_ text: Substring) -> Hash? {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        // "$7$101$salt$hash" splits into ["", "7", "101", "salt", "hash"].
        if parts.count == 5, parts[0].isEmpty, parts[1] == "7", let iterations = Int(parts[2]), iterations > 0,
            let salt = Data(base64Encoded: String(parts[3])), let hash = Data(base64Encoded: String(parts[4])), !hash.isEmpty
        {
            return .pbkdf2SHA512(iterations: iterations, salt: salt, hash: hash)
        }
        if parts.count == 4, parts[0].isEmpty, parts[1] == "6",
            let salt = Data(base64Encoded: String(parts[2])), let hash = Data(base64Encoded: String(parts[3])), !hash.isEmpty
        {
            return .sha512(salt: salt, hash: hash)
        }
        return nil
    }

    /// True when the file has a line for `user`: what tells an unknown user
    /// from a wrong password when a login fails.
    public func contains(user: String) -> Bool {
        entries[user] != nil
    }

    /// True when `user` exists and `password` matches its hash.
    public func verify(user: String, password: [UInt8]) -> Bool {
        guard let entry = entries[user] else { return false }
        switch entry {
        case .pbkdf2SHA512(let iterations, let salt, let expected):
            // Mosquitto's default is 101 rounds; the file decides, so the
            // unchecked variant (the checked one insists on 210,000).
            guard
                let key = try? KDF.Insecure.PBKDF2.deriveKey(
                    from: password, salt: salt, using: .sha512, outputByteCount: expected.count, unsafeUncheckedRounds: iterations
                )
            else { return false }
            return key.withUnsafeBytes { Self.constantTimeEqual(Data($0), expected) }
        case .sha512(let salt, let expected):
            let digest = SHA512.hash(data: password + Array(salt))
            return Self.constantTimeEqual(Data(digest), expected)
        }
    }

    private static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
