import WharfCore
import WharfMQTT
import WharfMetrics

/// Cluster mode's journal: the node's own journal (its local log, or
/// nothing with `--in-memory`) with the cluster's writes folded into each
/// commit. A forward at QoS 1/2, a retained message and a new route are
/// written to JetStream as they happen (pipelined); the commit of the
/// connection's batch then waits for their acknowledgements as well as for
/// the local records, so a PUBACK goes out only once every durable hop has
/// the message, as `BrokerJournal`'s contract asks.
public final class ClusterJournal: BrokerJournal {
    public let inner: any BrokerJournal

    public init(wrapping inner: any BrokerJournal) {
        self.inner = inner
    }

    public var isDurable: Bool { inner.isDurable }
    public func newMessageId() -> UInt64 { inner.newMessageId() }
    public func newQueue() -> JournalQueue? { inner.newQueue() }
    public var acceptsMessages: Bool { inner.acceptsMessages }
    public func makeWriter() -> any JournalWriter { ClusterJournalWriter(inner.makeWriter()) }
    public func recover(into broker: Broker) -> Broker.Restored { inner.recover(into: broker) }
    public func start() throws { try inner.start() }
    public func close() { inner.close() }
    public func snapshot() -> StorageSnapshot? { inner.snapshot() }
}

/// One connection's writer: the local effects go to the inner writer; the
/// cluster's writes of the batch are counted by its `ClusterCommitGate`.
final class ClusterJournalWriter: JournalWriter {
    let inner: any JournalWriter
    private var gate: ClusterCommitGate?
    /// Commits complete in the order they were made, whatever order their
    /// JetStream acknowledgements come back in (`HeldReplies` releases
    /// everything up to a completed commit).
    private let sequencer = CommitSequencer()

    init(_ inner: any JournalWriter) {
        self.inner = inner
    }

    /// The gate of the batch being written, for a cluster write its commit
    /// waits for. `holdsReplies`: the connection's replies wait for it (a
    /// forward, a retained message; a route's SUBACK too).
    func batchGate() -> ClusterCommitGate {
        if let gate { return gate }
        let gate = ClusterCommitGate()
        self.gate = gate
        return gate
    }

    var isEmpty: Bool { inner.isEmpty && gate == nil }
    var repliesMustWait: Bool { inner.repliesMustWait || gate != nil }
    func requireDurableReply() { inner.requireDurableReply() }

    func taken(_ message: Message, by queue: JournalQueue, qos: QoS, retain: Bool, subscriptionIds: SubscriptionIdentifiers) {
        inner.taken(message, by: queue, qos: qos, retain: retain, subscriptionIds: subscriptionIds)
    }

    func enqueued(
        _ messageId: UInt64, by queue: JournalQueue, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers
    ) {
        inner.enqueued(messageId, by: queue, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds)
    }

    func retained(_ message: Message) { inner.retained(message) }
    func removed(_ messageId: UInt64, from queue: JournalQueue) { inner.removed(messageId, from: queue) }
    func sent(_ messageId: UInt64, queue: JournalQueue, packetId: UInt16) { inner.sent(messageId, queue: queue, packetId: packetId) }
    func released(_ messageId: UInt64, queue: JournalQueue) { inner.released(messageId, queue: queue) }

    func inbound(queue: JournalQueue, packetId: UInt16, awaitingRelease: Bool) {
        inner.inbound(queue: queue, packetId: packetId, awaitingRelease: awaitingRelease)
    }

    func deduplicationId(topic: String, id: String, seenAt: UInt64) { inner.deduplicationId(topic: topic, id: id, seenAt: seenAt) }

    func sessionOpened(_ queue: JournalQueue, clientId: String, expiryInterval: UInt32) {
        inner.sessionOpened(queue, clientId: clientId, expiryInterval: expiryInterval)
    }

    func sessionOffline(_ queue: JournalQueue, expiresAt: UInt64) { inner.sessionOffline(queue, expiresAt: expiresAt) }
    func sessionEnded(_ queue: JournalQueue) { inner.sessionEnded(queue) }

    func subscribed(_ queue: JournalQueue, _ subscription: SubscribePacket.Subscription, identifier: UInt32) {
        inner.subscribed(queue, subscription, identifier: identifier)
    }

    func unsubscribed(_ queue: JournalQueue, filter: String) { inner.unsubscribed(queue, filter: filter) }
    func groupCreated(_ queue: JournalQueue, name: String, filter: String) { inner.groupCreated(queue, name: name, filter: filter) }
    func groupEnded(_ queue: JournalQueue) { inner.groupEnded(queue) }
    func willScheduled(_ message: Message, clientId: String, deadline: UInt64) {
        inner.willScheduled(message, clientId: clientId, deadline: deadline)
    }
    func willEnded(clientId: String) { inner.willEnded(clientId: clientId) }

    func commit(whenDurable: (@Sendable (Bool) -> Void)?) {
        let ticket = sequencer.ticket()
        let gate = self.gate
        self.gate = nil
        let sequencer = self.sequencer
        let finish: @Sendable (Bool) -> Void = { ok in sequencer.complete(ticket, ok: ok, then: whenDurable) }
        guard let gate else {
            if inner.isEmpty {
                finish(true)
            } else {
                inner.commit(whenDurable: finish)
            }
            return
        }
        gate.seal(then: finish)
        if inner.isEmpty {
            gate.innerDone(true)
        } else {
            inner.commit { ok in gate.innerDone(ok) }
        }
    }
}
