/// What happens to messages published to topics matching a filter pattern,
/// like a RabbitMQ policy: how long they may wait (TTL) and how many times a
/// delivery may be attempted before the message is dead-lettered.
public struct DeliveryPolicy: Sendable, Hashable {
    /// A topic filter (`orders/#`); the first policy in the list whose
    /// pattern matches a message's topic applies to it.
    public var pattern: String
    /// Seconds a message may wait for delivery; expired messages are never
    /// delivered and are counted as dropped (`expired`).
    public var messageTTL: Double?
    /// Deliveries a message may have (the first send plus resends after a
    /// consumer went away without acknowledging). Past it the message goes to
    /// `$DLQ/<original topic>` instead, and is counted as dead-lettered.
    public var maxDeliveryAttempts: Int?
    /// Most messages under this policy a queue (a session's or a group's)
    /// holds waiting; what happens beyond it is `overflow`.
    public var maxLength: Int?
    public var overflow: Overflow

    /// What a queue at `maxLength` does with one more message, as RabbitMQ's
    /// `overflow` policy key: drop its oldest waiting message, or refuse the
    /// new one. Either is counted as dropped (`max_length`).
    public enum Overflow: String, Sendable, Hashable, CaseIterable {
        case dropOldest = "drop-oldest"
        case rejectNew = "reject-new"
    }

    public init(
        pattern: String, messageTTL: Double? = nil, maxDeliveryAttempts: Int? = nil,
        maxLength: Int? = nil, overflow: Overflow = .dropOldest
    ) {
        self.pattern = pattern
        self.messageTTL = messageTTL
        self.maxDeliveryAttempts = maxDeliveryAttempts
        self.maxLength = maxLength
        self.overflow = overflow
    }

    /// Where dead letters of `topic` go.
    public static func deadLetterTopic(for topic: String) -> String { "$DLQ/" + topic }
}

/// The policies in force, first match wins.
public struct DeliveryPolicies: Sendable, Hashable {
    public var policies: [DeliveryPolicy]

    public init(_ policies: [DeliveryPolicy] = []) {
        self.policies = policies
    }

    public var isEmpty: Bool { policies.isEmpty }

    /// The policy for a topic, if any. Dead letters themselves are exempt, so
    /// a `#` policy cannot dead-letter a dead letter again.
    public func policy(for topic: String) -> DeliveryPolicy? {
        guard !policies.isEmpty, !topic.hasPrefix("$DLQ/") else { return nil }
        return policies.first { TopicMatcher.matches(filter: $0.pattern, topic: topic) }
    }
}
