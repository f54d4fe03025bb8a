import Foundation

/// Files holding secrets (a bearer token) must not be readable by every user
/// of the machine; as for TLS keys, group-readable (0640) is allowed.
enum PrivateFile {
    /// Throws naming `key` and `path` when the file cannot be examined or
    /// anyone may read it.
    static func check(_ path: String, key: String) throws(ConfigFileError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ConfigFileError(file: path, key: key, problem: "cannot be read (\(String(cString: strerror(errno))))")
        }
        let mode = status.st_mode & 0o777
        guard mode & 0o004 == 0 else {
            throw ConfigFileError(
                file: path, key: key,
                problem: "is readable by every user (mode \(String(mode, radix: 8))); make it private: chmod 600 \(path)")
        }
    }
}
