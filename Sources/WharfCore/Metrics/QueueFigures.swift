/// A queue's figures as read under its lock, a session's or a consumer
/// group's alike; lag and ages are computed from them here, once, for both
/// snapshots (`QueueSnapshot`, `GroupSnapshot`).
public struct QueueFigures: Sendable, Hashable {
    /// Waiting to be sent.
    public var depth: Int
    /// Sent, not yet acknowledged.
    public var inflight: Int
    public var enqueuedTotal: Int
    public var deliveredTotal: Int
    public var acknowledgedTotal: Int
    /// Publish time of the oldest message waiting to be sent.
    public var oldestQueuedNanos: UInt64?
    /// Publish time of the oldest message in flight.
    public var oldestInflightNanos: UInt64?

    public init(
        depth: Int, inflight: Int, enqueuedTotal: Int, deliveredTotal: Int, acknowledgedTotal: Int,
        oldestQueuedNanos: UInt64? = nil, oldestInflightNanos: UInt64? = nil
    ) {
        self.depth = depth
        self.inflight = inflight
        self.enqueuedTotal = enqueuedTotal
        self.deliveredTotal = deliveredTotal
        self.acknowledgedTotal = acknowledgedTotal
        self.oldestQueuedNanos = oldestQueuedNanos
        self.oldestInflightNanos = oldestInflightNanos
    }

    /// Messages the consumers have yet to acknowledge.
    public var lagMessages: Int { depth + inflight }

    /// How long the oldest unacknowledged message has waited (0: none).
    public func lagSeconds(now: UInt64) -> Double {
        let oldest = [oldestQueuedNanos, oldestInflightNanos].compactMap { $0 }.min()
        return oldest.map { Self.seconds(since: $0, now: now) } ?? 0
    }

    /// How long the oldest message waiting to be sent has waited (nil: none waits).
    public func oldestMessageAgeSeconds(now: UInt64) -> Double? {
        oldestQueuedNanos.map { Self.seconds(since: $0, now: now) }
    }

    static func seconds(since nanos: UInt64, now: UInt64) -> Double {
        now > nanos ? Double(now - nanos) / 1e9 : 0
    }
}
