import Synchronization
import WharfCore
import WharfMQTT
import WharfMetrics

/// A journal whose commits become durable only when a test says so, in
/// order, or fail: a stand-in for a backend whose commit is asynchronous and
/// remote, to test what a connection does while its replies wait (the
/// ordering contract of `BrokerJournal`). Records effects as text.
final class ManualJournal: BrokerJournal {
    struct Commit {
        var effects: [String]
        var whenDurable: (@Sendable (Bool) -> Void)?
    }

    private let state = Mutex<(commits: [Commit], done: Int, ids: UInt64)>(([], 0, 0))
    var isDurable: Bool { true }
    func newMessageId() -> UInt64 {
        state.withLock {
            $0.ids += 1
            return $0.ids
        }
    }
    func newQueue() -> JournalQueue? { JournalQueue(id: newMessageId()) }
    var acceptsMessages: Bool { true }
    func makeWriter() -> any JournalWriter { ManualJournalWriter(journal: self) }
    func recover(into broker: Broker) -> Broker.Restored { Broker.Restored() }
    func start() {}
    func close() {}
    func snapshot() -> StorageSnapshot? { nil }

    func append(_ commit: Commit) { state.withLock { $0.commits.append(commit) } }

    /// Commits handed over and not yet completed.
    var pending: [[String]] { state.withLock { $0.commits[$0.done...].map(\.effects) } }

    /// Completes the next `count` commits, in order, with `ok`.
    func complete(_ count: Int = 1, ok: Bool = true) {
        let due: [Commit] = state.withLock { state in
            let end = min(state.commits.count, state.done + count)
            defer { state.done = end }
            return Array(state.commits[state.done..<end])
        }
        for commit in due { commit.whenDurable?(ok) }
    }
}

/// Makes replies wait for exactly the effects `JournalWriter` documents.
final class ManualJournalWriter: JournalWriter {
    let journal: ManualJournal
    private var effects: [String] = []
    private(set) var repliesMustWait = false
    init(journal: ManualJournal) { self.journal = journal }

    var isEmpty: Bool { effects.isEmpty }
    func requireDurableReply() { repliesMustWait = true }
    private func add(_ effect: String, waits: Bool) {
        effects.append(effect)
        if waits { repliesMustWait = true }
    }

    func taken(_ message: Message, by queue: JournalQueue, qos: QoS, retain: Bool, subscriptionIds: SubscriptionIdentifiers) {
        add("taken \(message.topic) by \(queue.id)", waits: true)
    }
    func enqueued(_ id: UInt64, by queue: JournalQueue, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers)
    {
        add("enqueued \(id) by \(queue.id)", waits: false)
    }
    func retained(_ message: Message) { add("retained \(message.topic)", waits: true) }
    func removed(_ id: UInt64, from queue: JournalQueue) { add("removed \(id) from \(queue.id)", waits: false) }
    func sent(_ id: UInt64, queue: JournalQueue, packetId: UInt16) { add("sent \(id) as \(packetId)", waits: false) }
    func released(_ id: UInt64, queue: JournalQueue) { add("released \(id)", waits: true) }
    func inbound(queue: JournalQueue, packetId: UInt16, awaitingRelease: Bool) {
        add("inbound \(packetId) \(awaitingRelease)", waits: true)
    }
    func deduplicationId(topic: String, id: String, seenAt: UInt64) { add("dedup \(id)", waits: false) }
    func sessionOpened(_ queue: JournalQueue, clientId: String, expiryInterval: UInt32) { add("session \(clientId)", waits: true) }
    func sessionOffline(_ queue: JournalQueue, expiresAt: UInt64) { add("offline \(queue.id)", waits: false) }
    func sessionEnded(_ queue: JournalQueue) { add("ended \(queue.id)", waits: false) }
    func subscribed(_ queue: JournalQueue, _ subscription: SubscribePacket.Subscription, identifier: UInt32) {
        add("subscribed \(subscription.filter)", waits: true)
    }
    func unsubscribed(_ queue: JournalQueue, filter: String) { add("unsubscribed \(filter)", waits: true) }
    func groupCreated(_ queue: JournalQueue, name: String, filter: String) { add("group \(name)", waits: false) }
    func groupEnded(_ queue: JournalQueue) { add("group ended \(queue.id)", waits: false) }
    func willScheduled(_ message: Message, clientId: String, deadline: UInt64) { add("will \(clientId)", waits: false) }
    func willEnded(clientId: String) { add("will ended \(clientId)", waits: false) }

    func commit(whenDurable: (@Sendable (Bool) -> Void)?) {
        journal.append(.init(effects: effects, whenDurable: whenDurable))
        effects.removeAll()
        repliesMustWait = false
    }
}
