import WharfMQTT
import WharfMetrics

/// The journal of a broker that keeps nothing (`--in-memory`): no message
/// or queue gets a journal id, so the broker never calls a writer for one,
/// and replies never wait.
public final class InMemoryJournal: BrokerJournal {
    public init() {}

    public var isDurable: Bool { false }
    public func newMessageId() -> UInt64 { 0 }
    public func newQueue() -> JournalQueue? { nil }
    public var acceptsMessages: Bool { true }
    /// One shared writer: a connection costs no allocation for it.
    public func makeWriter() -> any JournalWriter { NoJournalWriter.shared }
    public func recover(into broker: Broker) -> Broker.Restored { Broker.Restored() }
    public func start() {}
    public func close() {}
    public func snapshot() -> StorageSnapshot? { nil }
}

/// Writes nothing. A commit with a callback still calls it (with success),
/// so a caller that waits is never left waiting.
final class NoJournalWriter: JournalWriter, Sendable {
    static let shared = NoJournalWriter()

    var isEmpty: Bool { true }
    var repliesMustWait: Bool { false }
    func requireDurableReply() {}
    func taken(_: Message, by _: JournalQueue, qos _: QoS, retain _: Bool, subscriptionIds _: SubscriptionIdentifiers) {}
    func enqueued(
        _: UInt64, by _: JournalQueue, qos _: QoS, retain _: Bool, onSubscribe _: Bool, subscriptionIds _: SubscriptionIdentifiers
    ) {}
    func retained(_: Message) {}
    func removed(_: UInt64, from _: JournalQueue) {}
    func sent(_: UInt64, queue _: JournalQueue, packetId _: UInt16) {}
    func released(_: UInt64, queue _: JournalQueue) {}
    func inbound(queue _: JournalQueue, packetId _: UInt16, awaitingRelease _: Bool) {}
    func deduplicationId(topic _: String, id _: String, seenAt _: UInt64) {}
    func sessionOpened(_: JournalQueue, clientId _: String, expiryInterval _: UInt32) {}
    func sessionOffline(_: JournalQueue, expiresAt _: UInt64) {}
    func sessionEnded(_: JournalQueue) {}
    func subscribed(_: JournalQueue, _: SubscribePacket.Subscription, identifier _: UInt32) {}
    func unsubscribed(_: JournalQueue, filter _: String) {}
    func groupCreated(_: JournalQueue, name _: String, filter _: String) {}
    func groupEnded(_: JournalQueue) {}
    func willScheduled(_: Message, clientId _: String, deadline _: UInt64) {}
    func willEnded(clientId _: String) {}
    func commit(whenDurable: (@Sendable (Bool) -> Void)?) { whenDurable?(true) }
}
