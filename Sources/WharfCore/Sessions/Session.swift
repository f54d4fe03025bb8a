import Atomics
import DequeModule
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
        /// What its client may read (`[auth] acl_file`); nil: everything.
        var authorization: ClientAuthorization?
        /// Subscriptions through which some topic may be refused: while
        /// there are none, deliveries skip the receive check (a `#`
        /// subscriber under `topic read #` pays nothing per message).
        var filtersNeedingChecks = Set<ExactString>()
        /// The policy generation `filtersNeedingChecks` was worked out for.
        var coverageGeneration = -1
        /// Recent receive checks (see `ReceiveDecisions`).
        var receiveDecisions = ReceiveDecisions()
        /// Cluster mode: the session's queue is the cluster's, and its plain
        /// subscriptions route there (`Session+cluster`).
        var routedByCluster = false
        /// The last place in the cluster queue enqueued here (0: none).
        var lastInboxSequence: UInt64 = 0
        /// Places in the cluster queue read here and not deleted there yet,
        /// oldest first (`takeDeletableInboxEntries`).
        var inboxRead = Deque<UInt64>()
        /// Entries of the cluster queue up to here may have been sent by
        /// the node that delivered the session before (`resendThrough`).
        var maybeSentThrough: UInt64 = 0
        /// False once the queue was discarded: acknowledged and discarded
        /// messages look alike then, so no floor may be taken from it.
        var inboxFloorKnown = true
        /// Places in the cluster queue of deliveries another connection took
        /// past PUBREC (`restoreReleased`): never sent again as messages,
        /// even once their PUBCOMP came before the reader got to them.
        var releasedInboxSequences = Set<UInt64>()
        /// While offline: what its queue in the cluster holds, as last read
        /// there (`setClusterBacklog`), for the metrics.
        var clusterBacklog: (count: Int, oldestNanos: UInt64?)?

        /// Whether a delivery of `topic` must be refused.
        @inline(__always)
        mutating func refuses(_ topic: String) -> Bool {
            if authorization!.policy.generation != coverageGeneration { recomputeCoverage() }
            guard !filtersNeedingChecks.isEmpty else { return false }
            if let allowed = receiveDecisions.answer(for: topic) { return !allowed }
            let allowed = authorization!.allows(.receive, topic: topic)
            receiveDecisions.remember(topic, allowed: allowed)
            return !allowed
        }

        /// A subscription to `key` was added or replaced.
        mutating func noteCoverage(of key: ExactString) {
            guard authorization != nil else { return }
            if authorization!.allowsAllDeliveries(filter: key.string) {
                filtersNeedingChecks.remove(key)
            } else {
                filtersNeedingChecks.insert(key)
            }
        }

        /// Works out every subscription's coverage again (a new client or a reloaded ACL).
        mutating func recomputeCoverage() {
            filtersNeedingChecks.removeAll()
            receiveDecisions.forget()
            guard authorization != nil else { return }
            coverageGeneration = authorization!.policy.generation
            for key in subscriptions.keys { noteCoverage(of: key) }
        }
    }

    /// Everything above, under one lock: the extensions by concern
    /// (+groups, +acknowledgements, +inbound, +subscriptions, +statistics,
    /// +recovery) share it.
    let state: OrderedMutex<State>
    /// How many groups this session is in, readable without the lock (the
    /// drain path checks it on every batch).
    let groupCount = ManagedAtomic<Int>(0)
    let latencyTrackers: Mutex<(deliver: LatencyTracker, acknowledge: LatencyTracker)>
    /// Longest a publisher is held for one queue without the consumer making
    /// progress (the connection's pause timer uses the same bound). Offline
    /// sessions never pause anyone; they drop and count.
    public static let maxPauseNanos = PublisherPacing.maxPauseNanos

    /// What the client may read from now on: set by its connection at
    /// CONNECT (nil: no ACL). Consumer groups are authorized at SUBSCRIBE:
    /// a member may join only with a filter its read grants cover.
    public func authorize(_ authorization: ClientAuthorization?) {
        state.withLock { state in
            state.authorization = authorization
            state.recomputeCoverage()
        }
    }

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
        self.state = OrderedMutex(
            .session,
            State(
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
        subscriptionIds: SubscriptionIdentifiers = .none, attempts: Int = 0, publisher: (any DeliveryTarget)? = nil,
        inboxSequence: UInt64 = 0
    ) -> EnqueueResult {
        var release: [any DeliveryTarget] = []
        let (result, wake): (EnqueueResult, (any DeliveryTarget)?) = state.withLock { state in
            // Receive is checked here, under the lock enqueue takes anyway:
            // every path that gives a session a message comes through.
            if inboxSequence > state.lastInboxSequence {
                state.lastInboxSequence = inboxSequence
                state.inboxRead.append(inboxSequence)
            }
            if state.authorization != nil, state.refuses(message.topic) {
                return (.deniedByAccess, nil)
            }
            guard let owner = state.owner else {
                if qos == .atMostOnce || !isPersistent { return (.droppedOffline, nil) }
                return (
                    state.outbound.enqueue(
                        message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds, attempts: attempts,
                        inboxSequence: inboxSequence, maybeSent: inboxSequence != 0 && inboxSequence <= state.maybeSentThrough
                    ), nil
                )
            }
            var result = state.outbound.enqueue(
                message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds, attempts: attempts,
                inboxSequence: inboxSequence, maybeSent: inboxSequence != 0 && inboxSequence <= state.maybeSentThrough
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

    public func attach(_ owner: any DeliveryTarget, receiveMaximum: Int? = nil, resend packets: inout [OutboundPacket]) -> (
        any DeliveryTarget
    )? {
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

}
