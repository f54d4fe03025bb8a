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
    /// Monotonic time after which it must not be delivered (a policy's TTL).
    public let expiresAtNanos: UInt64?
    /// Deliveries allowed before dead-lettering (a policy's limit).
    public let maxDeliveryAttempts: Int?
    /// A policy's cap on waiting messages in a queue, and what to drop beyond it.
    public let maxQueueLength: Int?
    public let overflow: DeliveryPolicy.Overflow

    public init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, publishedAtNanos: UInt64 = Clock.nowNanos(),
        expiresAtNanos: UInt64? = nil, maxDeliveryAttempts: Int? = nil, maxQueueLength: Int? = nil,
        overflow: DeliveryPolicy.Overflow = .dropOldest
    ) {
        self.maxQueueLength = maxQueueLength
        self.overflow = overflow
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.publishedAtNanos = publishedAtNanos
        self.expiresAtNanos = expiresAtNanos
        self.maxDeliveryAttempts = maxDeliveryAttempts
    }

    /// True once its TTL has passed.
    @inline(__always)
    public func isExpired(at now: UInt64) -> Bool {
        guard let expiresAtNanos else { return false }
        return now >= expiresAtNanos
    }

    /// The same message under a policy (TTL counted from its publish time).
    func applying(_ policy: DeliveryPolicy) -> Message {
        Message(
            topic: topic, payload: payload, qos: qos, retain: retain, publishedAtNanos: publishedAtNanos,
            expiresAtNanos: policy.messageTTL.map { publishedAtNanos &+ UInt64($0 * 1e9) },
            maxDeliveryAttempts: policy.maxDeliveryAttempts, maxQueueLength: policy.maxLength, overflow: policy.overflow
        )
    }

    /// The copy that goes to `$DLQ/<topic>`: no policy of its own.
    func deadLetter() -> Message {
        Message(topic: DeliveryPolicy.deadLetterTopic(for: topic), payload: payload, qos: qos, retain: false)
    }
}

/// Monotonic time in nanoseconds (not wall time: immune to clock steps).
public enum Clock {
    @inlinable
    public static func nowNanos() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }
}
