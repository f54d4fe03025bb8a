#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process's open-file limit against what the configured connection
/// limits need. Each connection is a file descriptor; a broker whose
/// `max_connections` is above the limit fails at accept instead (EMFILE),
/// for MQTT and the metrics listener alike, long before the limit it
/// advertises.
enum OpenFileLimit {
    /// Descriptors beyond the connections: the listeners, the metrics
    /// listener's own connections, the store's segment files, stdio.
    static let overhead = 128

    struct Reading: Sendable, Equatable {
        var soft: Int
        var hard: Int
    }

    /// Raises the soft limit toward `needed` (never past the hard limit, which
    /// only root may raise) and returns the limits now in force; nil if they
    /// cannot be read.
    static func raise(toward needed: Int) -> Reading? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let hard = Int(clamping: limit.rlim_max)
        // RLIM_INFINITY is all ones: it clamps to Int.max.
        var soft = Int(clamping: limit.rlim_cur)
        if soft < needed {
            let target = min(needed, hard)
            var raised = limit
            raised.rlim_cur = rlim_t(target)
            if setrlimit(resource, &raised) == 0 { soft = target }
        }
        return Reading(soft: soft, hard: hard)
    }

    /// The start-up warning, or nil when the limit suffices.
    static func warning(maxConnections: Int, maxPending: Int, limit: Reading) -> String? {
        let needed = maxConnections + maxPending + overhead
        guard limit.soft < needed else { return nil }
        return "max_connections (\(maxConnections)) and max_pending_connections (\(maxPending)) need about \(needed) file descriptors, "
            + "but the open-file limit is \(limit.soft) (hard limit \(limit.hard)): connections past it will fail at accept; "
            + "raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower max_connections"
    }

    #if canImport(Glibc)
        private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        private static let resource = RLIMIT_NOFILE
    #endif
}
