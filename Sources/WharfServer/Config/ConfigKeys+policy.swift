import WharfCore
import WharfMQTT

/// The keys of a `[[policy]]` table: one `DeliveryPolicy` each, by topic pattern.
/// None by default; the README shows an example of each key.
extension ConfigKeys {
    public enum Policy {
        public static let pattern = ConfigKey<DeliveryPolicy>.string(
            "policy", "pattern", default: .unset(example: "orders/#"), doc: "a topic filter",
            problem: { pattern in
                TopicRules.isValidTopicFilter(pattern) && !pattern.hasPrefix("$share/") ? nil : "\"\(pattern)\" is not a valid topic filter"
            }
        ) { $0.pattern = $1 }
        public static let messageTTL = ConfigKey<DeliveryPolicy>.number(
            "policy", "message_ttl", 0.001...31_536_000, default: .unset(example: 60),
            doc: "seconds a message may wait; then it is dropped (counted as expired)"
        ) { $0.messageTTL = $1 }
        public static let maxDeliveryAttempts = ConfigKey<DeliveryPolicy>.int(
            "policy", "max_delivery_attempts", 1...1000, default: .unset(example: 5),
            doc: "deliveries (refusals and consumers going away count) before it goes to $DLQ/<topic>"
        ) { $0.maxDeliveryAttempts = $1 }
        public static let maxLength = ConfigKey<DeliveryPolicy>.int(
            "policy", "max_length", 1...100_000_000, default: .unset(example: 10000),
            doc: "most waiting messages under this policy per queue (session or group)"
        ) { $0.maxLength = $1 }
        public static let overflow = ConfigKey<DeliveryPolicy>.choice(
            "policy", "overflow", of: DeliveryPolicy.Overflow.self, default: .value("drop-oldest"),
            doc: "at max_length: drop the oldest waiting one, or \"reject-new\""
        ) { $0.overflow = $1 }

        static let keys = [pattern, messageTTL, maxDeliveryAttempts, maxLength, overflow]
    }
}
