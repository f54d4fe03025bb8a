import WharfMQTT

/// A message in a queue for one consumer, with how it goes to it: waiting,
/// in flight (`OutboundQueue`), acknowledged or refused (what the
/// acknowledgement hands back), or read back from the journal
/// (`Session.Restoring`). One shape for all of them.
public struct Delivery: Sendable {
    public var message: Message
    /// QoS of this delivery (the publisher's, downgraded to the subscription's).
    public var qos: QoS
    /// The RETAIN flag on the wire.
    public var retain: Bool
    /// A retained message sent on subscribe, not a live delivery: its age is
    /// not transit time, so latency figures leave it out.
    public var onSubscribe: Bool
    /// The subscription identifiers it carries (5.0), kept for a redelivery.
    public var subscriptionIds: SubscriptionIdentifiers
    /// The consumer group that handed it over, if any: it learns of the
    /// acknowledgement.
    public var group: ConsumerGroup?
    /// Deliveries made of it so far (in flight: this one included). A
    /// negatively acknowledged message coming back keeps its count.
    public var attempts: Int

    public init(
        message: Message, qos: QoS, retain: Bool = false, onSubscribe: Bool = false, subscriptionIds: SubscriptionIdentifiers = .none,
        group: ConsumerGroup? = nil, attempts: Int = 0
    ) {
        self.message = message
        self.qos = qos
        self.retain = retain
        self.onSubscribe = onSubscribe
        self.subscriptionIds = subscriptionIds
        self.group = group
        self.attempts = attempts
    }
}
