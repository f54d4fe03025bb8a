import Foundation
import WharfMQTT
import WharfMetrics
import WharfStorage

/// The local log's settings (data directory, fsync policy, segment size,
/// quota), named here so that the server configures the journal it chooses
/// without depending on the store's module.
public typealias LocalLogOptions = StorageOptions
/// What opening a data directory found (segments, records, truncated bytes).
public typealias LocalLogRecoveryReport = RecoveryReport

/// The journal on the embedded log (`WharfStorage.Storage`): one data
/// directory, a group-commit writer thread, checkpoints. A commit is durable
/// once the writer's fsync (or its policy) covers it, and commits are
/// written in the order they were handed over, which gives the ordering
/// contract of `BrokerJournal` directly.
public final class LocalLogJournal: BrokerJournal {
    let storage: Storage

    /// Opens (creating if needed) and scans a data directory; `recover` then
    /// puts its state back into a broker, and `start` begins writing.
    public static func open(
        _ options: LocalLogOptions, log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> (LocalLogJournal, LocalLogRecoveryReport) {
        let (storage, report) = try Storage.open(options, log: log)
        return (LocalLogJournal(storage: storage), report)
    }

    init(storage: Storage) {
        self.storage = storage
    }

    public var options: LocalLogOptions { storage.options }
    public var isDurable: Bool { true }
    @inline(__always)
    public func newMessageId() -> UInt64 { storage.nextMessageId() }
    public func newQueue() -> JournalQueue? { JournalQueue(id: storage.nextQueueId()) }
    public var acceptsMessages: Bool { storage.acceptsMessages }
    public func makeWriter() -> any JournalWriter { LocalLogWriter(storage: storage) }
    public func start() throws { try storage.start() }
    public func close() { storage.close() }
    public func snapshot() -> StorageSnapshot? { storage.snapshot() }
}

/// Frames a connection's effects as log records in one `StorageBatch`,
/// handed to the writer thread at commit (one lock, one copy).
///
/// A published message is one record naming every queue that took it: the
/// record is begun at the first `taken` and closed by the next effect that
/// is not another queue taking the same message (a record cannot be written
/// inside another), or by the commit.
final class LocalLogWriter: JournalWriter {
    private let storage: Storage
    /// Empty until the first record: an idle connection holds no buffer.
    private var batch = StorageBatch(capacity: 0)
    /// The journal id of the message whose record is open (0: none).
    private var openMessage: UInt64 = 0

    init(storage: Storage) {
        self.storage = storage
    }

    var isEmpty: Bool { batch.isEmpty && openMessage == 0 }
    /// An open message record asks its publisher's reply to wait, as a closed one does.
    var repliesMustWait: Bool { batch.needsDurableReply || openMessage != 0 }
    func requireDurableReply() { batch.requireDurableReply() }

    @inline(__always)
    private func closeMessage() {
        guard openMessage != 0 else { return }
        batch.endMessage()
        openMessage = 0
    }

    func taken(_ message: Message, by queue: JournalQueue, qos: QoS, retain: Bool, subscriptionIds: SubscriptionIdentifiers) {
        if openMessage != message.journalId {
            closeMessage()
            batch.beginMessage(message.storedForm(at: WallClock.now()))
            openMessage = message.journalId
        }
        batch.addTarget(
            queue: queue.id, qos: qos.rawValue, retain: retain, subscriptionIds: subscriptionIds.isEmpty ? [] : subscriptionIds.values
        )
    }

    func enqueued(
        _ messageId: UInt64, by queue: JournalQueue, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers
    ) {
        closeMessage()
        batch.enqueue(
            QueueEntry(
                queue: queue.id, message: messageId, qos: qos.rawValue, retain: retain, onSubscribe: onSubscribe,
                subscriptionIds: subscriptionIds.isEmpty ? [] : subscriptionIds.values
            ))
    }

    func retained(_ message: Message) {
        let hasBody = message.payload.readableBytes > 0
        if openMessage == message.journalId {
            closeMessage()  // its body is in the record the queues' entries made
        } else {
            closeMessage()
            if hasBody { batch.message(message.storedForm(at: WallClock.now())) }
        }
        batch.retain(topic: message.topic, message: hasBody ? message.journalId : 0)
    }

    func removed(_ messageId: UInt64, from queue: JournalQueue) {
        closeMessage()
        batch.remove(queue: queue.id, message: messageId)
    }

    func sent(_ messageId: UInt64, queue: JournalQueue, packetId: UInt16) {
        closeMessage()
        batch.sent(queue: queue.id, message: messageId, packetId: packetId)
    }

    func released(_ messageId: UInt64, queue: JournalQueue) {
        closeMessage()
        batch.released(queue: queue.id, message: messageId)
    }

    func inbound(queue: JournalQueue, packetId: UInt16, awaitingRelease: Bool) {
        closeMessage()
        batch.inbound(queue: queue.id, packetId: packetId, awaiting: awaitingRelease)
    }

    func deduplicationId(topic: String, id: String, seenAt: UInt64) {
        closeMessage()
        batch.dedup(topic: topic, id: id, seenAt: seenAt)
    }

    func sessionOpened(_ queue: JournalQueue, clientId: String, expiryInterval: UInt32) {
        closeMessage()
        batch.session(queue: queue.id, clientId: clientId, expiryInterval: expiryInterval)
    }

    func sessionOffline(_ queue: JournalQueue, expiresAt: UInt64) {
        closeMessage()
        batch.sessionOffline(queue: queue.id, expiresAt: expiresAt)
    }

    func sessionEnded(_ queue: JournalQueue) {
        closeMessage()
        batch.sessionEnd(queue: queue.id)
    }

    func subscribed(_ queue: JournalQueue, _ subscription: SubscribePacket.Subscription, identifier: UInt32) {
        closeMessage()
        batch.subscribe(queue: queue.id, filter: subscription.filter, options: subscription.storedOptions, identifier: identifier)
    }

    func unsubscribed(_ queue: JournalQueue, filter: String) {
        closeMessage()
        batch.unsubscribe(queue: queue.id, filter: filter)
    }

    func groupCreated(_ queue: JournalQueue, name: String, filter: String) {
        closeMessage()
        batch.group(queue: queue.id, name: name, filter: filter)
    }

    func groupEnded(_ queue: JournalQueue) {
        closeMessage()
        batch.groupEnd(queue: queue.id)
    }

    func willScheduled(_ message: Message, clientId: String, deadline: UInt64) {
        closeMessage()
        // Nobody waits for a will: its connection is gone.
        batch.message(message.storedForm(at: WallClock.now()), durableReply: false)
        batch.will(clientId: clientId, message: message.journalId, deadline: deadline)
    }

    func willEnded(clientId: String) {
        closeMessage()
        batch.will(clientId: clientId, message: 0, deadline: 0)
    }

    func commit(whenDurable: (@Sendable (Bool) -> Void)?) {
        closeMessage()
        storage.submit(&batch, whenDone: whenDurable)
    }
}

extension Message {
    /// The message as the log stores it: times as Unix nanoseconds.
    func storedForm(at clock: WallClock) -> StoredMessage {
        StoredMessage(
            id: journalId, topic: topic, payload: payload, qos: qos.rawValue, retain: retain, forwardsExpiry: forwardsExpiry,
            publishedAt: clock.wall(publishedAtNanos), expiresAt: expiresAtNanos.map(clock.wall) ?? 0, properties: forwardedProperties
        )
    }
}

extension SubscribePacket.Subscription {
    /// The options byte a subscription is stored with: QoS in bits 0-1, no
    /// local 2, retain as published 3, retain handling 4-5.
    var storedOptions: UInt8 {
        qos.rawValue | (noLocal ? 4 : 0) | (retainAsPublished ? 8 : 0) | (retainHandling & 3) << 4
    }

    /// A subscription from its stored options byte.
    init(filter: String, storedOptions options: UInt8) {
        self.init(
            filter: filter, qos: QoS(rawValue: options & 3) ?? .atMostOnce, noLocal: options & 4 != 0,
            retainAsPublished: options & 8 != 0, retainHandling: (options >> 4) & 3
        )
    }
}
