import WharfMQTT

/// The last retained message per topic (3.1.1 section 3.3.1.3), keyed by
/// the topic's exact bytes.
public struct RetainedStore: Sendable {
    private var messages: [ExactString: Message] = [:]

    public init() {}

    public var count: Int { messages.count }

    /// Stores `message` for its topic; an empty payload clears the topic.
    public mutating func update(with message: Message) {
        if message.payload.readableBytes == 0 {
            messages.removeValue(forKey: ExactString(message.topic))
        } else {
            messages[ExactString(message.topic)] = message
        }
    }

    public func message(for topic: String) -> Message? {
        messages[ExactString(topic)]
    }

    /// Retained messages whose topics match `filter`, oldest topic order not
    /// guaranteed. A scan: subscribing is rare next to publishing, and the
    /// `$` rule and wildcards are applied exactly as for live routing.
    public func matching(filter: String) -> [Message] {
        if !filter.utf8.contains(UInt8(ascii: "+")) && !filter.utf8.contains(UInt8(ascii: "#")) {
            return messages[ExactString(filter)].map { [$0] } ?? []
        }
        return messages.values.filter { TopicMatcher.matches(filter: filter, topic: $0.topic) }
    }
}
