import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A storage I/O failure, naming the file and what the system said.
public struct StorageError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
}

/// The segment files of a data directory: `NNNNNNNNNNNNNNNNNNNN.log`, each
/// starting with an 8-byte magic, then frames (see `StorageRecord`).
public enum SegmentFiles {
    static let magic: [UInt8] = Array("WHARFLG1".utf8)
    static let suffix = ".log"

    public static func name(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    static func path(_ directory: String, _ number: UInt64) -> String { directory + "/" + name(number) }

    /// Segment numbers present in `directory`, ascending.
    static func list(_ directory: String) throws(StorageError) -> [UInt64] {
        guard let dir = opendir(directory) else { throw StorageError(path: directory, operation: "opendir", code: errno) }
        defer { closedir(dir) }
        var numbers: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasSuffix(suffix), let number = UInt64(name.dropLast(suffix.count)) else { continue }
            numbers.append(number)
        }
        return numbers.sorted()
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            current += current.isEmpty && path.hasPrefix("/") ? "/" + part : (current.isEmpty ? String(part) : "/" + part)
            guard !part.isEmpty else { continue }
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StorageError(path: current, operation: "mkdir", code: errno)
            }
        }
    }

    /// Reads a whole file into one buffer.
    static func read(_ path: String) throws(StorageError) -> ByteBuffer {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StorageError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StorageError(path: path, operation: "stat", code: errno) }
        let size = Int(info.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, raw.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n < 0 ? errno : 0
                    break
                }
                done += n
            }
            return done
        }
        if failure != 0 { throw StorageError(path: path, operation: "read", code: failure) }
        return buffer
    }

    /// Reads `length` bytes at `offset` (a checkpoint copying a message record).
    static func read(fd: Int32, path: String, offset: Int, length: Int, into buffer: inout ByteBuffer) throws(StorageError) {
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            var done = 0
            while done < length {
                let n = pread(fd, raw.baseAddress! + done, length - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n < 0 ? errno : EIO
                    break
                }
                done += n
            }
            return done
        }
        if failure != 0 { throw StorageError(path: path, operation: "read", code: failure) }
    }

    static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    static func truncate(_ path: String, to length: Int) throws(StorageError) {
        guard Glibc.truncate(path, off_t(length)) == 0 else { throw StorageError(path: path, operation: "truncate", code: errno) }
    }

    static func remove(_ path: String) {
        unlink(path)
    }

    static func rename(_ from: String, _ to: String) {
        Glibc.rename(from, to)
    }

    /// Makes a directory's entries (new or deleted files) durable.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Bytes free for an unprivileged writer on the file system holding `path`.
    static func freeBytes(_ path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }
}

/// One open segment, appended to by the writer thread only.
final class ActiveSegment {
    let number: UInt64
    let path: String
    private let fd: Int32
    private(set) var size: Int

    /// Creates a new segment file with its magic (durable before use).
    init(directory: String, number: UInt64) throws(StorageError) {
        self.number = number
        self.path = SegmentFiles.path(directory, number)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(path: path, operation: "create", code: errno) }
        size = 0
        try write(ByteBuffer(bytes: SegmentFiles.magic))
        try sync()
        SegmentFiles.syncDirectory(directory)
    }

    deinit { close(fd) }

    /// Appends everything or, on failure, cuts the file back to where it
    /// was, so a half-written batch never sits before later records.
    func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let code = errno
                _ = ftruncate(fd, off_t(size))
                lseek(fd, off_t(size), SEEK_SET)
                throw StorageError(path: path, operation: "write", code: code)
            }
            done += n
        }
        size += bytes.count
    }

    func write(_ buffer: ByteBuffer) throws(StorageError) {
        var failure: StorageError?
        buffer.withUnsafeReadableBytes { raw in
            do throws(StorageError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func sync() throws(StorageError) {
        guard fdatasync(fd) == 0 else { throw StorageError(path: path, operation: "fsync", code: errno) }
    }
}
