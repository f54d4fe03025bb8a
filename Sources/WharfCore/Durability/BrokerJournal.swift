import WharfMQTT
import WharfMetrics

/// The broker's durable backend: where every effect that must survive a
/// restart goes, and where a restart gets it back from. The broker decides
/// *what* is durable (a QoS 1/2 message a persistent session or a consumer
/// group took, a retained message, a session, a subscription...); a journal
/// decides *how*. `LocalLogJournal` writes the embedded log (`WharfStorage`);
/// `InMemoryJournal` keeps nothing (`--in-memory`); a replicated backend
/// implements the same two protocols.
///
/// Routing and connections never see a backend's records: they call a
/// `JournalWriter` in the broker's words (`Broker+journal` holds the rules
/// of which effects are written), and commit it once per read batch.
///
/// ## The ordering contract
///
/// A backend may commit asynchronously and remotely. What the broker relies
/// on, and every implementation must give:
///
/// 1. **Commits are ordered.** `whenDurable(true)` for a commit means that
///    commit, and every commit any writer made before it started, is
///    durable. (The broker writes a session's or a subscription's record in
///    its own commit and then has the connection's next commit wait for it:
///    `JournalWriter.requireDurableReply`.)
/// 2. **Replies wait for their records.** A connection sends nothing that
///    follows a waiting record until that record's commit says `true`, and
///    then in the order it was written: PUBACK/PUBREC of a publish a durable
///    queue took or that was retained; PUBREC/PUBCOMP of inbound QoS 2
///    (`inbound`); PUBREL after a subscriber's PUBREC (`released`); CONNACK
///    of a stored session, or of a clean start that ended one; SUBACK and
///    UNSUBACK of a stored session. Which records make a reply wait is the
///    writer's `repliesMustWait`.
/// 3. **Failure withholds, never lies.** `whenDurable(false)` means the
///    commit may not be durable: the replies waiting for it are dropped and
///    the connection closed, so the client keeps its messages and sends them
///    again. Nothing acknowledged is lost.
/// 4. **Records can arrive early.** Connections commit independently, so a
///    subscriber's "acknowledged" can commit before the publisher's "taken"
///    of the same message. A backend must apply such records when the
///    message arrives (the local log keeps them in `EarlyRecords`), never
///    drop them.
/// 5. **Recovery is complete before serving.** `recover(into:)` puts back
///    everything durable, through `Broker`'s restore methods, before any
///    client connects; `start()` then begins taking commits.
public protocol BrokerJournal: AnyObject, Sendable {
    /// False for a journal that keeps nothing: the broker then gives
    /// messages and queues no journal ids, and skips every durable effect.
    var isDurable: Bool { get }
    /// A new id for a message that may be journaled, unique for the life of
    /// the journal; 0 from a journal that keeps nothing (`Message.isJournaled`).
    func newMessageId() -> UInt64
    /// A new durable queue (a persistent session's or a consumer group's);
    /// nil from a journal that keeps nothing.
    func newQueue() -> JournalQueue?
    /// False while the journal refuses new messages (quota reached, disk
    /// full): publishers are refused with a reason; everything else is kept.
    var acceptsMessages: Bool { get }
    /// A writer for one connection (or one piece of broker work), used on
    /// one thread at a time.
    func makeWriter() -> any JournalWriter
    /// Puts back what the journal holds. Call once, before `start`.
    func recover(into broker: Broker) -> Broker.Restored
    /// Starts taking commits.
    func start() throws
    /// Makes what was committed durable and stops. Call after the last
    /// connection's final commit.
    func close()
    /// The journal's own figures for the metrics snapshot (nil: none).
    func snapshot() -> StorageSnapshot?
}

/// A durable queue: a persistent session's or a consumer group's, as the
/// journal knows it.
public struct JournalQueue: Hashable, Sendable, CustomStringConvertible {
    public let id: UInt64
    public init(id: UInt64) { self.id = id }
    public var description: String { "queue \(id)" }
}

/// The durable effects of one connection's read batch (or one piece of
/// broker work), in the order they happened, until `commit`. Each method
/// names an effect in the broker's words; the backend frames it as it
/// likes. Messages passed here have a journal id (`Message.isJournaled`).
public protocol JournalWriter: AnyObject {
    /// Nothing written since the last commit.
    var isEmpty: Bool { get }
    /// A record written since the last commit must be durable before the
    /// connection's replies that follow it go out (see the contract).
    var repliesMustWait: Bool { get }
    /// The connection's next replies wait for what the broker committed on
    /// its behalf in another writer (a session's or a subscription's record).
    func requireDurableReply()

    // MARK: Messages

    /// `queue` took `message` (QoS 1/2) as it was published: one of possibly
    /// many queues taking it; the backend may write the message once for all
    /// of them, with their entries.
    func taken(_ message: Message, by queue: JournalQueue, qos: QoS, retain: Bool, subscriptionIds: SubscriptionIdentifiers)
    /// `queue` took a message the journal already holds: a retained message
    /// sent for a new subscription (`onSubscribe`), or a consumer group's
    /// message moving to the member that sent PUBREC.
    func enqueued(
        _ messageId: UInt64, by queue: JournalQueue, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers
    )
    /// `message` is the retained message of its topic now (an empty payload
    /// clears the topic).
    func retained(_ message: Message)
    /// The message left `queue`: acknowledged, abandoned, dropped by a
    /// policy, dead-lettered, or moved to a group member.
    func removed(_ messageId: UInt64, from queue: JournalQueue)
    /// A QoS 2 delivery went out under `packetId` for good: a restart
    /// resends it under the same id.
    func sent(_ messageId: UInt64, queue: JournalQueue, packetId: UInt16)
    /// The subscriber sent PUBREC: a restart resends PUBREL, not the PUBLISH.
    /// The PUBREL waits for this.
    func released(_ messageId: UInt64, queue: JournalQueue)
    /// Inbound QoS 2: `packetId` awaits PUBREL (or no longer does). The
    /// PUBREC/PUBCOMP waits for this.
    func inbound(queue: JournalQueue, packetId: UInt16, awaitingRelease: Bool)
    /// A publisher de-duplication id was seen (`seenAt`: Unix nanoseconds).
    func deduplicationId(topic: String, id: String, seenAt: UInt64)

    // MARK: Sessions, subscriptions, groups, wills

    func sessionOpened(_ queue: JournalQueue, clientId: String, expiryInterval: UInt32)
    /// The client went away; the session ends at `expiresAt` (Unix
    /// nanoseconds; 0: it is connected again, no deadline).
    func sessionOffline(_ queue: JournalQueue, expiresAt: UInt64)
    func sessionEnded(_ queue: JournalQueue)
    /// `identifier`: the 5.0 subscription identifier (0: none).
    func subscribed(_ queue: JournalQueue, _ subscription: SubscribePacket.Subscription, identifier: UInt32)
    func unsubscribed(_ queue: JournalQueue, filter: String)
    func groupCreated(_ queue: JournalQueue, name: String, filter: String)
    func groupEnded(_ queue: JournalQueue)
    /// A will waits out its delay until `deadline` (Unix nanoseconds).
    func willScheduled(_ message: Message, clientId: String, deadline: UInt64)
    /// The client's delayed will went out or was cancelled.
    func willEnded(clientId: String)

    // MARK: Committing

    /// Hands everything written so far to the backend and empties the
    /// writer. `whenDurable` is called once, on any thread, with the outcome
    /// (see the contract); it must only hop to where it needs to be.
    func commit(whenDurable: (@Sendable (Bool) -> Void)?)
}
