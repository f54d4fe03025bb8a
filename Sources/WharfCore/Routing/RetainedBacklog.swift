import DequeModule
import WharfMQTT

/// The retained messages a connection's new subscriptions are still owed:
/// one entry per filter, served in SUBSCRIBE order by
/// `Broker.deliverRetained`. A connection keeps one and works through it a
/// slice at a time, so a SUBSCRIBE whose filters walk a large retained store
/// shares its event loop with everyone else on it.
public struct RetainedBacklog: Sendable {
    public struct Owed: Sendable {
        public var filter: String
        public var qos: QoS
        public var identifiers: SubscriptionIdentifiers
    }

    private var owed = Deque<Owed>()

    public init() {}

    public var isEmpty: Bool { owed.isEmpty }
    public var count: Int { owed.count }

    mutating func append(_ entry: Owed) { owed.append(entry) }

    /// Forgets what is owed to `filters`: they were unsubscribed (nothing more
    /// may be added for them, 3.10.4) or subscribed again, which decides
    /// their retained messages anew.
    public mutating func remove(filters: some Sequence<String>) {
        guard !owed.isEmpty else { return }
        let gone = Set(filters.map(ExactString.init))
        owed.removeAll { gone.contains(ExactString($0.filter)) }
    }
    mutating func next() -> Owed? { owed.popFirst() }
}
