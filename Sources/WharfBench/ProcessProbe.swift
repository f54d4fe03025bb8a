import Foundation

/// Small reads of process state for the bench: the broker's resident memory
/// (idle-connection cost), this process's CPU time (is the load generator
/// saturated?), and its file descriptor limit.
enum ProcessProbe {
    /// VmRSS of a process in KiB, from /proc/PID/status; nil if unreadable.
    static func residentKiB(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            // "VmRSS:     12345 kB"
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// CPU time this process has used, all threads, in nanoseconds.
    static func cpuNanos() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Raises the soft limit on open files to at least `needed` (a connection
    /// is a descriptor), or says why it cannot.
    static func ensureFileDescriptors(_ needed: Int) throws(BenchError) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(needed) else { return }
        guard limit.rlim_max >= rlim_t(needed) else {
            throw .tooFewFileDescriptors(needed: needed, hardLimit: Int(limit.rlim_max))
        }
        limit.rlim_cur = rlim_t(needed)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw .tooFewFileDescriptors(needed: needed, hardLimit: Int(limit.rlim_max))
        }
    }
}
