import NIOCore
import WharfMQTT

/// An application message as the broker routes it: one immutable object
/// shared by every subscriber it goes to, so fan-out never copies the payload.
public final class Message: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    /// QoS the publisher used; each delivery is downgraded to the subscription's.
    public let qos: QoS
    /// RETAIN as published; deliveries to existing subscriptions clear it
    /// (unless the subscription asked for retain-as-published).
    public let retain: Bool
    /// Monotonic publish time, for latency and lag metrics.
    public let publishedAtNanos: UInt64
    /// Monotonic time after which it must not be delivered: the publisher's
    /// message expiry interval or a policy's TTL, whichever ends first.
    public let expiresAtNanos: UInt64?
    /// Deliveries allowed before dead-lettering (a policy's limit).
    public let maxDeliveryAttempts: Int?
    /// A policy's cap on waiting messages in a queue, and what to drop beyond it.
    public let maxQueueLength: Int?
    public let overflow: DeliveryPolicy.Overflow
    /// MQTT 5.0 properties passed through to 5.0 subscribers (payload format,
    /// content type, response topic, correlation data, user properties),
    /// encoded once at publish so fan-out copies no property per subscriber.
    /// Nil when there are none (every 3.1.1 message).
    public let forwardedProperties: ByteBuffer?
    /// The publisher set a message expiry interval: 5.0 deliveries carry
    /// what is left of it (a policy TTL alone stays the broker's business).
    public let forwardsExpiry: Bool
    /// Its id in the journal (0: not journaled; QoS 0, and in-memory brokers: `isJournaled`).
    public let journalId: UInt64

    public init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, publishedAtNanos: UInt64 = Clock.nowNanos(),
        expiresAtNanos: UInt64? = nil, maxDeliveryAttempts: Int? = nil, maxQueueLength: Int? = nil,
        overflow: DeliveryPolicy.Overflow = .dropOldest, forwardedProperties: ByteBuffer? = nil, forwardsExpiry: Bool = false,
        journalId: UInt64 = 0
    ) {
        self.journalId = journalId
        self.maxQueueLength = maxQueueLength
        self.overflow = overflow
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.publishedAtNanos = publishedAtNanos
        self.expiresAtNanos = expiresAtNanos
        self.maxDeliveryAttempts = maxDeliveryAttempts
        self.forwardedProperties = forwardedProperties
        self.forwardsExpiry = forwardsExpiry
    }

    /// A message from a PUBLISH (or a will) with its 5.0 properties: the
    /// expiry interval sets `expiresAtNanos`; what subscribers must see is
    /// encoded into `forwardedProperties`. Topic alias and subscription
    /// identifiers belong to one hop and are not kept.
    public convenience init(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: MQTTProperties, journalId: UInt64 = 0
    ) {
        let now = Clock.nowNanos()
        guard !properties.isEmpty else {
            self.init(topic: topic, payload: payload, qos: qos, retain: retain, publishedAtNanos: now, journalId: journalId)
            return
        }
        let expiry = properties.integer(.messageExpiryInterval)
        let forwarded = properties.filter(Message.isForwarded)
        var bytes: ByteBuffer?
        if !forwarded.isEmpty {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(forwarded.entriesSize)
            forwarded.writeEntries(into: &buffer)
            bytes = buffer
        }
        self.init(
            topic: topic, payload: payload, qos: qos, retain: retain, publishedAtNanos: now,
            expiresAtNanos: expiry.map { now &+ UInt64($0) &* 1_000_000_000 }, forwardedProperties: bytes,
            forwardsExpiry: expiry != nil, journalId: journalId
        )
    }

    /// Properties a server forwards unchanged (MQTT 5.0 section 3.3.2.3).
    static func isForwarded(_ identifier: PropertyIdentifier) -> Bool {
        switch identifier {
        case .payloadFormatIndicator, .contentType, .responseTopic, .correlationData, .userProperty: return true
        default: return false
        }
    }

    /// True once its TTL has passed.
    @inline(__always)
    public func isExpired(at now: UInt64) -> Bool {
        guard let expiresAtNanos else { return false }
        return now >= expiresAtNanos
    }

    /// Whole seconds of the expiry interval left at `now`, rounded up so a
    /// message still deliverable never goes out with 0 (section 3.3.2.3.3).
    public func remainingExpirySeconds(at now: UInt64) -> UInt32 {
        guard let expiresAtNanos, expiresAtNanos > now else { return 0 }
        return UInt32(min(UInt64(UInt32.max), (expiresAtNanos - now + 999_999_999) / 1_000_000_000))
    }

    /// The same message under a policy (TTL counted from its publish time;
    /// the publisher's own expiry still applies if it ends first).
    func applying(_ policy: DeliveryPolicy) -> Message {
        let policyExpiry = policy.messageTTL.map { publishedAtNanos &+ UInt64($0 * 1e9) }
        let expiry: UInt64? =
            switch (expiresAtNanos, policyExpiry) {
            case (let a?, let b?): min(a, b)
            case (let a, let b): a ?? b
            }
        return Message(
            topic: topic, payload: payload, qos: qos, retain: retain, publishedAtNanos: publishedAtNanos,
            expiresAtNanos: expiry, maxDeliveryAttempts: policy.maxDeliveryAttempts, maxQueueLength: policy.maxLength,
            overflow: policy.overflow, forwardedProperties: forwardedProperties, forwardsExpiry: forwardsExpiry,
            journalId: journalId
        )
    }

    /// Why a message was dead-lettered, as its user properties say.
    public enum DeadLetterReason: String, Sendable {
        /// Delivered `max_delivery_attempts` times without an acknowledgement.
        case maxDeliveryAttempts = "max_delivery_attempts"
    }

    /// The copy that goes to `$DLQ/<topic>`: no policy of its own, the
    /// original's properties, and user properties saying why (5.0 consumers
    /// of the dead-letter topic see them).
    func deadLetter(reason: DeadLetterReason = .maxDeliveryAttempts, attempts: Int, journalId: UInt64 = 0) -> Message {
        var buffer = ByteBuffer()
        if var forwarded = forwardedProperties { buffer.writeBuffer(&forwarded) }
        var added = MQTTProperties()
        added.append(.userProperty, .stringPair("wharf-dead-letter-reason", reason.rawValue))
        added.append(.userProperty, .stringPair("wharf-delivery-attempts", String(attempts)))
        added.append(.userProperty, .stringPair("wharf-original-topic", topic))
        added.writeEntries(into: &buffer)
        return Message(
            topic: DeliveryPolicy.deadLetterTopic(for: topic), payload: payload, qos: qos, retain: false,
            forwardedProperties: buffer, journalId: journalId
        )
    }

    /// The compact copy the retained store keeps: a slice would pin the whole
    /// read buffer it arrived in for as long as it is retained.
    func retainedCopy() -> Message {
        Message(
            topic: topic, payload: ByteBuffer(buffer: payload), qos: qos, retain: true, publishedAtNanos: publishedAtNanos,
            expiresAtNanos: expiresAtNanos, forwardedProperties: forwardedProperties.map { ByteBuffer(buffer: $0) },
            forwardsExpiry: forwardsExpiry, journalId: journalId
        )
    }
}

/// Monotonic time in nanoseconds (not wall time: immune to clock steps).
public enum Clock {
    @inlinable
    public static func nowNanos() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }
}
