import WharfMQTT

/// A `$share/{group}/{filter}` subscription, split (MQTT 5.0 section 4.8.2;
/// the same syntax serves 3.1.1 clients, as in Mosquitto and EMQX).
public struct SharedSubscription: Sendable, Hashable {
    public let group: String
    public let filter: String

    /// The group's key: one group per (name, filter) pair.
    var key: String { group + "\u{0}" + filter }

    /// Nil when `text` does not start with `$share/`; throws for a malformed one.
    public static func parse(_ text: String) -> Result<SharedSubscription, ParseError>? {
        guard text.hasPrefix("$share/") else { return nil }
        let rest = text.dropFirst("$share/".count)
        guard let slash = rest.firstIndex(of: "/") else { return .failure(.missingFilter) }
        let group = String(rest[..<slash])
        let filter = String(rest[rest.index(after: slash)...])
        guard !group.isEmpty, !group.contains(where: { $0 == "+" || $0 == "#" }) else { return .failure(.badGroupName) }
        guard !filter.isEmpty, TopicRules.isValidTopicFilter(filter) else { return .failure(.badFilter) }
        return .success(SharedSubscription(group: group, filter: filter))
    }

    public enum ParseError: Error, Sendable {
        case missingFilter, badGroupName, badFilter
    }
}
