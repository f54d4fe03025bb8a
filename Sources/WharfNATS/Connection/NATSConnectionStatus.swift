/// Where a connection is, as its owner sees it (readiness, the dashboard).
public enum NATSConnectionStatus: Sendable, Hashable, CustomStringConvertible {
    /// Not yet connected once.
    case connecting
    case connected(NATSServerAddress)
    /// Was connected, lost it, trying the pool; the reason in words.
    case reconnecting(reason: String)
    case closed

    public var isConnected: Bool {
        if case .connected = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .connecting: return "connecting"
        case .connected(let server): return "connected to \(server)"
        case .reconnecting(let reason): return "reconnecting (\(reason))"
        case .closed: return "closed"
        }
    }
}

/// Counters of one connection, read for metrics.
public struct NATSConnectionStatistics: Sendable, Hashable {
    public var messagesIn = 0
    public var bytesIn = 0
    public var messagesOut = 0
    public var bytesOut = 0
    /// Successful reconnects after the first connect.
    public var reconnects = 0
    /// The last PING/PONG round trip.
    public var roundTrip: Duration?
    public var pendingRequests = 0
    public var subscriptions = 0
    /// `-ERR`s and protocol errors seen.
    public var errors = 0
    public var lastError: String?

    public init() {}
}
