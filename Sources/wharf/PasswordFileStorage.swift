#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading a password file and replacing it atomically, for `wharf passwd`.
///
/// The new text goes to a temporary file in the same directory, which is
/// then renamed over the old one: a broker reading the file meanwhile sees
/// the old version or the new one, never half of one, and a crash or a full
/// disk leaves the old file as it was.
enum PasswordFileStorage {
    /// What is kept of the file being replaced.
    struct Existing: Equatable {
        let text: String
        /// Permission bits: an admin who made the file group-readable for
        /// the broker's user expects it to stay so.
        let mode: mode_t
        let owner: uid_t
        let group: gid_t
    }

    /// New files hold password hashes, which are for the broker's eyes only.
    static let newFileMode: mode_t = 0o600

    /// The file `path` leads to through symbolic links, so that a link
    /// (into a configuration directory, say) stays a link and the file it
    /// points to is the one rewritten. `path` itself when it does not exist.
    static func resolvingLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The file's text and attributes; nil when there is no such file.
    static func load(_ path: String) throws -> Existing? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw PasswdError("cannot open \(path): \(lastError())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PasswdError("cannot look at \(path): \(lastError())") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw PasswdError("\(path) is not a regular file") }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw PasswdError("cannot read \(path): \(lastError())")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw PasswdError("\(path) is not UTF-8 text") }
        return Existing(text: text, mode: info.st_mode & 0o7777, owner: info.st_uid, group: info.st_gid)
    }

    /// Replaces `path` with `text`, keeping `existing`'s mode (and owner,
    /// when allowed: root editing a file the broker's user owns), or with
    /// mode 0600 for a new file.
    static func store(_ text: String, at path: String, like existing: Existing?) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        // Hidden, and named after the file, so a leftover is recognisable.
        var template = Array("\(directory)/.\(name).XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw PasswdError("cannot create a temporary file in \(directory): \(lastError())") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            if let existing {
                // Best effort: only root may give a file away, and
                // the mode below is what matters for who can read it.
                _ = fchown(fd, existing.owner, existing.group)
            }
            guard fchmod(fd, existing?.mode ?? newFileMode) == 0 else {
                throw PasswdError("cannot set the mode of \(temporary): \(lastError())")
            }
            try writeAll(Array(text.utf8), to: fd, path: temporary)
            guard fsync(fd) == 0 else { throw PasswdError("cannot write \(temporary): \(lastError())") }
        }
        guard rename(temporary, path) == 0 else { throw PasswdError("cannot replace \(path): \(lastError())") }
        renamed = true
        // The rename itself is durable only once the directory is synced.
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw PasswdError("cannot write \(path): \(lastError())")
            }
            offset += count
        }
    }

    private static func lastError() -> String {
        String(cString: strerror(errno))
    }
}
