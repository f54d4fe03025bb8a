/// A persistent session's queue at the moment of the snapshot.
public struct QueueSnapshot: Codable, Sendable, Equatable {
    /// The client id.
    public var name: String
    /// Connected consumers: 1 while the client is online, else 0.
    public var consumers: Int
    /// Messages waiting to be sent (ready).
    public var depth: Int
    /// Sent and not yet acknowledged (QoS 1/2).
    public var inflight: Int
    public var enqueuedTotal: Int
    public var deliveredTotal: Int
    public var acknowledgedTotal: Int
    /// Messages the consumer has not acknowledged yet: depth + inflight.
    public var lagMessages: Int
    /// Seconds since the oldest unacknowledged message was published; 0 when none.
    public var lagSeconds: Double
    /// Age of the oldest waiting message; absent when the queue is empty.
    public var oldestMessageAgeSeconds: Double?
    /// This queue's publish-to-deliver and publish-to-acknowledge latency (no buckets).
    public var deliverLatency: LatencySnapshot
    public var acknowledgeLatency: LatencySnapshot

    public init(
        name: String, consumers: Int, depth: Int, inflight: Int, enqueuedTotal: Int, deliveredTotal: Int,
        acknowledgedTotal: Int, lagMessages: Int, lagSeconds: Double, oldestMessageAgeSeconds: Double?,
        deliverLatency: LatencySnapshot, acknowledgeLatency: LatencySnapshot
    ) {
        self.name = name
        self.consumers = consumers
        self.depth = depth
        self.inflight = inflight
        self.enqueuedTotal = enqueuedTotal
        self.deliveredTotal = deliveredTotal
        self.acknowledgedTotal = acknowledgedTotal
        self.lagMessages = lagMessages
        self.lagSeconds = lagSeconds
        self.oldestMessageAgeSeconds = oldestMessageAgeSeconds
        self.deliverLatency = deliverLatency
        self.acknowledgeLatency = acknowledgeLatency
    }
}
