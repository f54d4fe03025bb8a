import Crypto
import Foundation

/// A bearer token kept in a file, as Prometheus's `credentials_file` reads
/// one: the file's content with surrounding whitespace removed (the newline
/// `echo` or an editor leaves). Only its SHA-256 is kept: comparing digests
/// of equal length takes the same time whatever the presented token's length
/// and wherever it differs.
public struct BearerToken: Sendable {
    public let path: String
    private let digest: [UInt8]

    /// Reads `path`; `key` names the setting in errors. Refuses a file anyone
    /// may read (the token is a password) and one with no token in it (an
    /// empty token would let any client that sends `Bearer` with nothing
    /// after it, or a truncated file, through).
    public init(path: String, key: String) throws(ConfigFileError) {
        try PrivateFile.check(path, key: key)
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigFileError(file: path, key: key, problem: "cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw ConfigFileError(file: path, key: key, problem: "holds no token (it is empty or only whitespace)")
        }
        self.path = path
        self.digest = Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// True when `presented` is the token.
    public func matches(_ presented: [UInt8]) -> Bool {
        constantTimeEqual(Array(SHA256.hash(data: presented)), digest)
    }
}
