import NIOCore
import WharfMQTT

/// An application message as the broker routes it: one immutable object
/// shared by every subscriber it goes to, so fan-out never copies the payload.
public final class Message: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    /// QoS the publisher used; each delivery is downgraded to the subscription's.
    public let qos: QoS
    /// RETAIN as published; deliveries to existing subscriptions clear it.
    public let retain: Bool
    /// Monotonic publish time, for latency and lag metrics.
    public let publishedAtNanos: UInt64

    public init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, publishedAtNanos: UInt64 = Clock.nowNanos()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.publishedAtNanos = publishedAtNanos
    }
}

/// Monotonic time in nanoseconds (not wall time: immune to clock steps).
public enum Clock {
    @inlinable
    public static func nowNanos() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }
}
