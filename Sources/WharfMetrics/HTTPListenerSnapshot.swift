/// The metrics HTTP listener's own figures: what its limits did. Absent
/// from the snapshot when the listener is off. Defined in docs/metrics.md.
public struct HTTPListenerSnapshot: Codable, Sendable, Equatable {
    /// HTTP connections open now.
    public var connections: Int
    /// The configured cap (`[metrics] max_connections`).
    public var maxConnections: Int
    /// Connections closed to make room for a newer one at the cap.
    public var evictedTotal: Int
    /// Connections closed after `idle_timeout` with no request under way.
    public var idleClosedTotal: Int
    /// Requests refused, by reason: `timeout` (408), `malformed` (400),
    /// `headers_too_large` (431), `body_too_large` (413), `unread_responses`
    /// (answers piled up unread; connection closed), `unauthorized` (401: no
    /// or wrong credentials; connection kept).
    public var refusedTotal: [String: Int]

    public init(connections: Int, maxConnections: Int, evictedTotal: Int, idleClosedTotal: Int, refusedTotal: [String: Int]) {
        self.connections = connections
        self.maxConnections = maxConnections
        self.evictedTotal = evictedTotal
        self.idleClosedTotal = idleClosedTotal
        self.refusedTotal = refusedTotal
    }
}
