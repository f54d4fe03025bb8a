import Atomics
import Synchronization
import WharfMQTT

/// The server side of one client id: its subscriptions, its outbound queue
/// and in-flight window, and the QoS 2 ids it is waiting to see released.
///
/// Any thread may enqueue; the connection that owns the session drains it on
/// its event loop. The mutex covers in-memory bookkeeping only, never I/O.
public final class Session: Sendable {
    public let clientId: String
    /// Its queue in the journal (nil: not journaled; a clean session, or an
    /// in-memory broker).
    public let journalQueue: JournalQueue?
    /// Seconds the session outlives its connection (5.0 session expiry
    /// interval; 3.1.1 clean session = 0 is "forever", `UInt32.max`). An
    /// atomic: the publish path reads it, and a 5.0 DISCONNECT may change it.
    private let expiry: ManagedAtomic<UInt32>
    /// Kept (and queued for) while the client is away.
    public var isPersistent: Bool { expiry.load(ordering: .relaxed) > 0 }
    public var expiryInterval: UInt32 { expiry.load(ordering: .relaxed) }
    public func setExpiryInterval(_ seconds: UInt32) { expiry.store(seconds, ordering: .relaxed) }
    /// The in-flight window the broker allows; a client's receive maximum
    /// (5.0) may lower it for its connection.
    let configuredMaxInflight: Int
    /// The window in force for the current connection, readable without the
    /// lock: consumer groups rank members by free capacity with it.
    private let window: ManagedAtomic<Int>
    public var inflightWindow: Int { window.load(ordering: .relaxed) }

    struct State: Sendable {
        var outbound: OutboundQueue
        var owner: (any DeliveryTarget)?
        var drainScheduled = false
        var subscriptions: [ExactString: QoS] = [:]
        /// Inbound QoS 2 packet ids between PUBREC and PUBREL.
        var awaitingRelease = Set<UInt16>()
        /// Publishers paused while this (online) queue is past its high-water mark.
        var pacing: PublisherPacing
        /// Counts the consumer's progress (messages taken, acknowledgements)
        /// for `pacing`: a count, so the ack path reads no clock.
        var progress = 0
        /// Consumer groups this session is a member of.
        var groups: [ObjectIdentifier: ConsumerGroup] = [:]
    }

    private let state: Mutex<State>
    /// How many groups this session is in, readable without the lock (the
    /// drain path checks it on every batch).
    private let groupCount = ManagedAtomic<Int>(0)
    private let latencyTrackers: Mutex<(deliver: LatencyTracker, acknowledge: LatencyTracker)>
    /// Longest a publisher is held for one queue without the consumer making
    /// progress (the connection's pause timer uses the same bound). Offline
    /// sessions never pause anyone; they drop and count.
    public static let maxPauseNanos = PublisherPacing.maxPauseNanos

    /// `maxQueued` 0 means no limit, as `max_queued_messages 0` does in
    /// Mosquitto (memory is then the limit; not recommended).
    public init(
        clientId: String, isPersistent: Bool = false, expiryInterval: UInt32? = nil, maxInflight: Int, maxQueued configuredMaxQueued: Int,
        journalQueue: JournalQueue? = nil
    ) {
        self.journalQueue = journalQueue
        let maxQueued = configuredMaxQueued == 0 ? Int.max : configuredMaxQueued
        self.clientId = clientId
        self.expiry = ManagedAtomic(expiryInterval ?? (isPersistent ? UInt32.max : 0))
        self.configuredMaxInflight = maxInflight
        self.window = ManagedAtomic(maxInflight)
        self.state = Mutex(State(
            outbound: OutboundQueue(maxInflight: maxInflight, maxQueued: maxQueued), pacing: PublisherPacing(maxQueued: maxQueued)
        ))
        let now = Clock.nowNanos()
        self.latencyTrackers = Mutex((LatencyTracker(now: now), LatencyTracker(now: now)))
    }

    /// Queues one delivery; wakes the owner if it has nothing scheduled.
    /// `publisher` is the connection the message came from, if any: it is
    /// paused when this (online) queue is past its high-water mark.
    public func enqueue(
        _ message: Message, qos: QoS, retain: Bool = false, onSubscribe: Bool = false,
        subscriptionIds: SubscriptionIdentifiers = .none, attempts: Int = 0, publisher: (any DeliveryTarget)? = nil
    ) -> EnqueueResult {
        var release: [any DeliveryTarget] = []
        let (result, wake): (EnqueueResult, (any DeliveryTarget)?) = state.withLock { state in
            guard let owner = state.owner else {
                if qos == .atMostOnce || !isPersistent { return (.droppedOffline, nil) }
                return (state.outbound.enqueue(
                    message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds, attempts: attempts
                ), nil)
            }
            var result = state.outbound.enqueue(
                message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds, attempts: attempts
            )
            let queued = result.isAccepted
            // Never pause a connection for its own queue: it must keep reading
            // the acknowledgements that drain it.
            if let publisher, publisher !== owner {
                let paced = state.pacing.admitted(depth: state.outbound.queuedCount, publisher: publisher, progress: state.progress) {
                    [PublisherPacing.ConsumerClock(consumer: ObjectIdentifier(owner), loopNanos: owner.loopRunningNanos)]
                }
                release = paced.resume
                // A queue dropping its oldest for a policy does not pause publishers.
                if paced.pause, result.outcome == .accepted { result.pausePublisher = true }
            }
            // Only wake when something can go out now; with a full window the
            // acknowledgement path drains, so no hop per queued message.
            guard queued, !state.drainScheduled, state.outbound.canSend else { return (result, nil) }
            state.drainScheduled = true
            return (result, owner)
        }
        for publisher in release { publisher.resumeReading() }
        wake?.deliveriesPending()
        return result
    }

    /// A consumer group hands over a message: accepted only while a client is
    /// connected and has room (`groupCapacity`), so the group can offer it to
    /// another member otherwise.
    func enqueueForGroup(_ message: Message, qos: QoS, subscriptionIds: SubscriptionIdentifiers, attempts: Int, group: ConsumerGroup) -> Bool {
        let (accepted, wake): (Bool, (any DeliveryTarget)?) = state.withLock { state in
            guard let owner = state.owner, Self.capacity(state) > 0 else { return (false, nil) }
            guard state.outbound.enqueue(
                message, qos: qos, retain: false, subscriptionIds: subscriptionIds, group: group, attempts: attempts
            ) == .accepted else { return (false, nil) }
            guard !state.drainScheduled, state.outbound.canSend else { return (true, nil) }
            state.drainScheduled = true
            return (true, owner)
        }
        wake?.deliveriesPending()
        return accepted
    }

    /// How many more group messages this member can take now: its in-flight
    /// window less what it holds (0 while offline).
    private static func capacity(_ state: State) -> Int {
        guard state.owner != nil else { return 0 }
        return max(0, state.outbound.maxInflight - state.outbound.inflightCount - state.outbound.queuedCount)
    }

    func joined(_ group: ConsumerGroup) {
        let count = state.withLock { state in
            state.groups[ObjectIdentifier(group)] = group
            return state.groups.count
        }
        groupCount.store(count, ordering: .relaxed)
    }

    func left(_ group: ConsumerGroup) {
        let count = state.withLock { state in
            state.groups.removeValue(forKey: ObjectIdentifier(group))
            return state.groups.count
        }
        groupCount.store(count, ordering: .relaxed)
    }

    /// The groups this session belongs to offer it what waits (after it
    /// drained, acknowledged or came back).
    public func dispatchGroups() {
        guard groupCount.load(ordering: .relaxed) > 0 else { return }
        let groups = state.withLock { Array($0.groups.values) }
        for group in groups { group.dispatch() }
    }

    /// Gives every unacknowledged group message back to its group.
    private func returnGroupMessages(_ taken: [(ConsumerGroup, Message)]) {
        guard !taken.isEmpty else { return }
        var byGroup: [ObjectIdentifier: (ConsumerGroup, [Message])] = [:]
        for (group, message) in taken {
            byGroup[ObjectIdentifier(group), default: (group, [])].1.append(message)
        }
        for (group, messages) in byGroup.values { group.returned(messages) }
    }

    /// Called by the owner on its loop: takes what may be sent now, and
    /// resumes paused publishers once the queue is below its low-water mark.
    /// Returns how many waiting messages had expired (dropped, not sent).
    @discardableResult
    public func takePackets(for owner: any DeliveryTarget, into packets: inout [OutboundPacket]) -> Int {
        let (resume, expired): ([any DeliveryTarget], Int) = state.withLock { state in
            guard state.owner === owner else { return ([], 0) }
            state.drainScheduled = false
            let before = packets.count
            let expired = state.outbound.nextPackets(into: &packets)
            if packets.count > before { state.progress &+= 1 }
            return (state.pacing.drained(depth: state.outbound.queuedCount), expired)
        }
        for publisher in resume { publisher.resumeReading() }
        return expired
    }

    /// Makes `owner` the live connection. Returns the connection it replaces
    /// (to be closed) and appends the in-flight packets to resend first;
    /// `deadLetters` gets the messages out of delivery attempts.
    /// `receiveMaximum` is the client's (5.0): the window never exceeds it.
    public func attach(
        _ owner: any DeliveryTarget, receiveMaximum: Int? = nil, resend packets: inout [OutboundPacket],
        deadLetters: inout [(Message, attempts: Int)]
    ) -> (any DeliveryTarget)? {
        state.withLock { state in
            let previous = state.owner
            state.owner = owner
            state.drainScheduled = false
            // A pause measured on the previous owner's loop clock means
            // nothing on the new one's: flow control starts afresh, the
            // paused publishers still waiting for the queue to drain.
            state.pacing.restartClock()
            state.outbound.maxInflight = min(configuredMaxInflight, receiveMaximum ?? Int.max)
            window.store(state.outbound.maxInflight, ordering: .relaxed)
            deadLetters += state.outbound.resendPackets(into: &packets)
            return previous
        }
    }

    public func attach(_ owner: any DeliveryTarget, receiveMaximum: Int? = nil, resend packets: inout [OutboundPacket]) -> (any DeliveryTarget)? {
        var deadLetters: [(Message, attempts: Int)] = []
        return attach(owner, receiveMaximum: receiveMaximum, resend: &packets, deadLetters: &deadLetters)
    }

    /// Forgets `owner` if it is still the live connection. Returns true if it was.
    @discardableResult
    public func detach(_ owner: any DeliveryTarget) -> Bool {
        let (detached, resume, taken, groups): (Bool, [any DeliveryTarget], [(ConsumerGroup, Message)], [ConsumerGroup]) =
            state.withLock { state in
                guard state.owner === owner else { return (false, [], [], []) }
                state.owner = nil
                state.drainScheduled = false
                // Offline queues do not hold publishers back, nor group messages.
                return (true, state.pacing.reset(), state.outbound.removeGroupMessages(), Array(state.groups.values))
            }
        for publisher in resume { publisher.resumeReading() }
        returnGroupMessages(taken)
        for group in groups { group.memberWentOffline() }
        return detached
    }

    /// Detaches whoever owns the session (it is being discarded). Returns that owner.
    func detachAll() -> (any DeliveryTarget)? {
        let (owner, resume, taken) = state.withLock { state in
            defer { state.owner = nil }
            return (state.owner, state.pacing.reset(), state.outbound.removeGroupMessages())
        }
        for publisher in resume { publisher.resumeReading() }
        returnGroupMessages(taken)
        return owner
    }

    public var isOnline: Bool { state.withLock { $0.owner != nil } }

    /// The live connection, if any.
    public var owner: (any DeliveryTarget)? { state.withLock { $0.owner } }

    // MARK: Acknowledgements from the client (owner's loop)
    //
    // Only the current owner may acknowledge. After a takeover the old
    // connection can still be reading: an ack from it must not free a packet
    // id that the session may then reuse while the new connection is being
    // sent the same message again (its ack would then clear the wrong one).

    public func acknowledge(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.acknowledge(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }

    /// A negative acknowledgement (5.0 PUBACK/PUBREC with a failure code).
    public func reject(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.reject(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }

    /// What the delivery in flight under `id` is waiting for (the owner only).
    public func inflightState(_ id: UInt16, from owner: any DeliveryTarget) -> (qos: QoS, phase: OutboundQueue.InflightPhase)? {
        state.withLock { state in
            guard state.owner === owner else { return nil }
            return state.outbound.inflightState(id)
        }
    }

    /// A delivery that could not be written to the client (too large for it).
    public func abandon(_ id: UInt16, from owner: any DeliveryTarget) {
        state.withLock { state in
            if state.owner === owner { state.outbound.abandon(id) }
        }
    }

    /// PUBREC for a QoS 2 delivery: returns its message, or nil for an unknown id.
    @discardableResult
    public func received(_ id: UInt16, from owner: any DeliveryTarget) -> (message: Message, group: ConsumerGroup?)? {
        state.withLock { state in
            guard state.owner === owner, state.outbound.received(id), let message = state.outbound.inflightMessage(id) else { return nil }
            return (message, state.outbound.inflightGroup(id))
        }
    }

    public func completed(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.completed(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }

    // MARK: Inbound QoS 2 (3.1.1 section 4.3.3, method B)

    /// Records an inbound QoS 2 id. Returns false if it is already awaiting
    /// PUBREL, meaning the PUBLISH is a resend and must not be routed again.
    public func beginInboundExactlyOnce(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.insert(id).inserted }
    }

    /// True if `id` is an inbound QoS 2 id awaiting PUBREL (a PUBLISH with it is a resend).
    public func awaitsRelease(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.contains(id) }
    }

    /// Inbound QoS 2 messages awaiting PUBREL: the client's in-flight count
    /// toward the server's receive maximum (5.0 section 4.9).
    public var inboundAwaitingRelease: Int { state.withLock { $0.awaitingRelease.count } }

    /// Returns false for an id that was not awaiting PUBREL.
    @discardableResult
    public func releaseInbound(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.remove(id) != nil }
    }

    // MARK: Subscriptions and counts

    /// Returns true if the session had no subscription to `filter` before.
    @discardableResult
    func recordSubscription(_ filter: String, qos: QoS) -> Bool {
        state.withLock { $0.subscriptions.updateValue(qos, forKey: ExactString(filter)) == nil }
    }

    /// What `recordSubscription(_:qos:limit:)` did with a filter.
    enum SubscriptionRecord: Sendable, Hashable {
        case added, replaced, refused
    }

    /// Records `filter` unless it is new and the session already holds
    /// `limit` subscriptions (0: no limit). A filter the session has is
    /// replaced, never refused: a re-subscription is not a new subscription.
    func recordSubscription(_ filter: String, qos: QoS, limit: Int) -> SubscriptionRecord {
        state.withLock { state in
            let key = ExactString(filter)
            if let index = state.subscriptions.index(forKey: key) {
                state.subscriptions.values[index] = qos
                return .replaced
            }
            guard limit <= 0 || state.subscriptions.count < limit else { return .refused }
            state.subscriptions[key] = qos
            return .added
        }
    }

    func forgetSubscription(_ filter: String) -> Bool {
        state.withLock { $0.subscriptions.removeValue(forKey: ExactString(filter)) != nil }
    }

    /// The session's topic filters and their granted QoS.
    public var subscriptions: [(filter: String, qos: QoS)] {
        state.withLock { $0.subscriptions.map { ($0.key.string, $0.value) } }
    }

    func discardMessages() -> Int { state.withLock { $0.outbound.removeAll() } }

    public var queuedCount: Int { state.withLock { $0.outbound.queuedCount } }

    /// The journal id of the message the last drop-oldest (a policy's max_length) dropped.
    var lastDroppedJournalId: UInt64 { state.withLock { $0.outbound.lastDroppedJournalId } }

    /// Queue figures and whether a client is attached, read together.
    public var statistics: (online: Bool, queue: OutboundQueue.Statistics, client: ClientInfo?) {
        state.withLock { ($0.owner != nil, $0.outbound.statistics, $0.owner?.clientInfo) }
    }

    /// The queue's latency trackers (copied under their lock, read outside it).
    public var latency: (deliver: LatencyTracker, acknowledge: LatencyTracker) {
        latencyTrackers.withLock { ($0.deliver, $0.acknowledge) }
    }

    /// Records a batch of this queue's latencies: publish times of the copies
    /// written, and of those acknowledged, against `now`. The owner calls it
    /// once per flush. A lock of its own, so the queue's lock (which every
    /// publisher to this session takes) is not held any longer for metrics.
    public func recordLatency(delivered: [UInt64], acknowledged: [UInt64], now: UInt64) {
        latencyTrackers.withLock { trackers in
            trackers.deliver.record(since: delivered, now: now)
            trackers.acknowledge.record(since: acknowledged, now: now)
        }
    }
    public var inflightCount: Int { state.withLock { $0.outbound.inflightCount } }

    // MARK: Recovery

    /// Puts back a message the durable store held for this (offline)
    /// session: in flight under its packet id when it had gone out at QoS 2
    /// (so the client's duplicate detection still works), queued otherwise.
    public struct Restoring: Sendable {
        var message: Message
        var qos: QoS
        var retain: Bool
        var onSubscribe: Bool
        var subscriptionIds: SubscriptionIdentifiers
        var attempts: Int
        var packetId: UInt16?
        var released: Bool

        public init(
            message: Message, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers, attempts: Int,
            packetId: UInt16?, released: Bool
        ) {
            self.message = message
            self.qos = qos
            self.retain = retain
            self.onSubscribe = onSubscribe
            self.subscriptionIds = subscriptionIds
            self.attempts = attempts
            self.packetId = packetId
            self.released = released
        }
    }

    func restore(_ items: [Restoring]) {
        state.withLock { state in
            for item in items {
                if let packetId = item.packetId {
                    state.outbound.restoreInflight(
                        item.message, qos: item.qos, packetId: packetId, retain: item.retain, subscriptionIds: item.subscriptionIds,
                        attempts: item.attempts, released: item.released
                    )
                } else {
                    _ = state.outbound.enqueue(
                        item.message, qos: item.qos, retain: item.retain, onSubscribe: item.onSubscribe,
                        subscriptionIds: item.subscriptionIds, attempts: item.attempts
                    )
                }
            }
        }
    }

    func restoreInbound(_ ids: Set<UInt16>) {
        state.withLock { $0.awaitingRelease.formUnion(ids) }
    }
}
