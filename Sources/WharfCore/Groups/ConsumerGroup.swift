import DequeModule
import Synchronization
import WharfMQTT
import WharfMetrics

/// A consumer group: the queue behind a shared subscription. Each message
/// goes to one member, the one with the most free capacity (its in-flight
/// window minus what it holds), round robin among equals. Messages wait in
/// the group while no member can take them, even with every member offline
/// (a durable work queue), up to the queue limit.
///
/// A member that goes offline hands back what it held and had not
/// acknowledged; the group gives it to another member.
///
/// Publishers are paced by the group's queue exactly as by a session's
/// (`PublisherPacing`): while a member is online and the group makes
/// progress, a publisher waits rather than overflow the group. Only a group
/// with no member online, or whose online members all took nothing for a
/// whole pause, drops what passes its limit (and counts it). Its lock is
/// held while member sessions' locks are taken (`LockLevel`).
public final class ConsumerGroup: Sendable {
    public let name: String
    public let filter: String

    struct Member: Sendable {
        let session: Session
        var qos: QoS
        /// The member's subscription identifier (5.0), carried on its deliveries.
        var subscriptionIds: SubscriptionIdentifiers
        var deliveredTotal = 0
        /// This group's QoS 1/2 messages the member holds unacknowledged: the
        /// group's own view of its load, read without the member's lock.
        var held = 0
    }

    struct Outstanding: Sendable {
        let publishedAt: UInt64
        let member: ObjectIdentifier
    }

    struct State: Sendable {
        /// The journal id of the message the last drop-oldest took out.
        var lastDroppedJournalId: UInt64 = 0
        var members: [Member] = []
        var ready = Deque<Message>()
        /// Delivered to a member and not acknowledged yet. A plain dictionary:
        /// acks arrive in any order, and removal must not shift the rest.
        var outstanding: [ObjectIdentifier: Outstanding] = [:]
        var nextMember = 0
        var enqueuedTotal = 0
        var deliveredTotal = 0
        var acknowledgedTotal = 0
        var redeliveredTotal = 0
        /// Deliveries so far of messages with an attempt limit, or that were
        /// refused once, by message.
        var attempts: [ObjectIdentifier: Int] = [:]
        /// A refused message coming back, and the member that refused it:
        /// another member gets it first if one has room.
        var refusedBy: [ObjectIdentifier: ObjectIdentifier] = [:]
        /// Publishers paused while the group is past its high-water mark.
        var pacing: PublisherPacing
        /// Members' progress, for `pacing`: a message taken or acknowledged.
        var progress: Int { deliveredTotal &+ acknowledgedTotal }
        /// Cluster mode: the cluster's queue this group pulls from (nil on one node).
        var feed: (any GroupFeed)?
        /// The room last told to `feed`.
        var roomTold = -1
        /// Cluster mode, on the one node that reports the group: what its
        /// queue in the cluster holds unacknowledged, and the publish time
        /// of the oldest such message (`setClusterBacklog`).
        var clusterBacklog: (count: Int, oldestNanos: UInt64?)?
    }

    private let state: OrderedMutex<State>
    let maxQueued: Int
    /// Called outside the lock: messages out of attempts, and expired ones.
    /// The second argument, when given, learns whether the dead letters were stored.
    private let deadLetter: @Sendable ([(Message, attempts: Int)], (@Sendable (Bool) -> Void)?) -> Void
    private let expired: @Sendable (Int) -> Void

    /// Its queue in the journal (nil: an in-memory broker).
    public let journalQueue: JournalQueue?

    init(
        name: String, filter: String, maxQueued: Int, journalQueue: JournalQueue? = nil,
        deadLetter: @escaping @Sendable ([(Message, attempts: Int)], (@Sendable (Bool) -> Void)?) -> Void = { _, done in done?(true) },
        expired: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.journalQueue = journalQueue
        self.name = name
        self.filter = filter
        self.maxQueued = maxQueued == 0 ? Int.max : maxQueued
        self.state = OrderedMutex(.group, State(pacing: PublisherPacing(maxQueued: self.maxQueued)))
        self.deadLetter = deadLetter
        self.expired = expired
    }

    // MARK: Cluster mode

    /// Makes the cluster's queue this group's source (`GroupFeed`): set
    /// once, before the first member joins.
    public func attach(_ feed: any GroupFeed) {
        state.withLock { $0.feed = feed }
    }

    public var feed: (any GroupFeed)? { state.withLock { $0.feed } }

    /// Cluster mode: this node reports the group's backlog, as its queue in
    /// the cluster says (nil: another node does). Every node with members
    /// reports what its members hold; only one reports the rest, so the
    /// nodes' depths add up to the queue's.
    public func setClusterBacklog(_ backlog: (count: Int, oldestNanos: UInt64?)?) {
        state.withLock { $0.clusterBacklog = backlog }
    }

    /// A message the feed pulled from the cluster's queue for members here.
    /// `attempts`: its deliveries before this one (on any node), which count
    /// against its policy's `max_delivery_attempts`.
    public func enqueuePulled(_ message: Message, attempts: Int) {
        let dispatched: Dispatched = state.withLock { state in
            state.ready.append(message)
            state.enqueuedTotal += 1
            if attempts > 0 { state.attempts[ObjectIdentifier(message)] = attempts }
            return dispatch(&state)
        }
        dispatched.finish(expired)
    }

    // MARK: Membership

    /// Adds or updates a member. Returns true if it is new.
    @discardableResult
    func join(_ session: Session, qos: QoS, subscriptionIds: SubscriptionIdentifiers = .none) -> Bool {
        let isNew: Bool = state.withLock { state in
            if let index = state.members.firstIndex(where: { $0.session === session }) {
                state.members[index].qos = qos
                state.members[index].subscriptionIds = subscriptionIds
                return false
            }
            state.members.append(Member(session: session, qos: qos, subscriptionIds: subscriptionIds))
            return true
        }
        dispatch()
        return isNew
    }

    /// Removes a member. Returns how many members are left.
    func leave(_ session: Session) -> Int {
        state.withLock { state in
            state.members.removeAll { $0.session === session }
            return state.members.count
        }
    }

    // MARK: Messages

    /// Queues a message for the group (its policy's max_length applies to
    /// the group's waiting messages) and hands out what members can take.
    /// One lock for both: the publish path pays for the group once.
    /// `publisher` is the connection it came from (nil: wills, recovery) and
    /// `publisherSession` its session: `pausePublisher` is true when the
    /// publisher must stop reading until the group drains.
    func enqueue(
        _ message: Message, publisher: (any DeliveryTarget)? = nil, publisherSession: Session? = nil
    ) -> EnqueueResult {
        var pause = false
        let (outcome, dispatched): (EnqueueResult.Outcome, Dispatched) = state.withLock { state in
            var result = EnqueueResult.Outcome.accepted
            if let limit = message.maxQueueLength, state.ready.count >= limit {
                guard message.overflow == .dropOldest, let dropped = state.ready.popFirst() else { return (.droppedMaxLength, .none) }
                state.attempts.removeValue(forKey: ObjectIdentifier(dropped))
                state.lastDroppedJournalId = dropped.journalId
                result = .acceptedDroppedOldest
            }
            guard state.ready.count < maxQueued else { return (.droppedQueueFull, .none) }
            state.ready.append(message)
            state.enqueuedTotal += 1
            var dispatched = dispatch(&state)
            if let publisher, state.ready.count >= state.pacing.highWaterMark, !state.pacing.suspended,
                !state.members.contains(where: { $0.session === publisherSession })  // a member must keep reading its acks
            {
                // With nobody online, nobody is held: the group queues, then drops and counts.
                // The clocks are read only when a pause begins or has run its course.
                if state.members.contains(where: { $0.session.isOnline }) {
                    let members = state.members
                    let paced = state.pacing.admitted(depth: state.ready.count, publisher: publisher, progress: state.progress) {
                        Self.onlineClocks(members)
                    }
                    pause = paced.pause
                    dispatched.resume += paced.resume
                }
            }
            return (result, dispatched)
        }
        dispatched.finish(expired)
        return EnqueueResult(outcome, pausePublisher: pause)
    }

    /// What a dispatch leaves to do once the lock is released.
    struct Dispatched: Sendable {
        var expired = 0
        var resume: [any DeliveryTarget] = []
        /// Cluster mode only: what the feed must hear of. Nil on one node.
        /// A class, so that `Dispatched` stays three words: as a struct
        /// inline (an existential and four arrays) its copies and releases
        /// cost 3.7% more instructions per group message on one node
        /// (`scripts/bench-instructions`, shared-qos1).
        var news: FeedNews?
        static let none = Dispatched()

        /// Filled under the group's lock by one dispatch, read by its
        /// `finish` after the lock is released: never shared between
        /// threads at once, hence unchecked.
        final class FeedNews: @unchecked Sendable {
            let feed: any GroupFeed
            var expiredMessages: [Message] = []
            var settled: [Message] = []
            var handedBack: [Message] = []
            var room: Int?

            init(feed: any GroupFeed) { self.feed = feed }
        }

        func finish(_ reportExpired: (Int) -> Void) {
            if expired > 0 { reportExpired(expired) }
            for publisher in resume { publisher.resumeReading() }
            guard let news else { return }
            if !news.expiredMessages.isEmpty { news.feed.settled(news.expiredMessages, expired: true) }
            if !news.settled.isEmpty { news.feed.settled(news.settled, expired: false) }
            if !news.handedBack.isEmpty { news.feed.handedBack(news.handedBack, afterNanos: 0) }
            if let room = news.room { news.feed.roomChanged(room) }
        }
    }

    /// The loop clocks of the members online now, for `PublisherPacing`.
    private static func onlineClocks(_ members: [Member]) -> [PublisherPacing.ConsumerClock] {
        members.compactMap { member in
            member.session.owner.map { PublisherPacing.ConsumerClock(consumer: ObjectIdentifier($0), loopNanos: $0.loopRunningNanos) }
        }
    }

    /// A member's connection went: with no member online any more, nobody
    /// is held for the group (it queues, then drops and counts).
    func memberWentOffline() {
        let (resume, clustered): ([any DeliveryTarget], Bool) = state.withLock { state in
            guard !state.pacing.paused.isEmpty, !state.members.contains(where: { $0.session.isOnline }) else {
                return ([], state.feed != nil)
            }
            return (state.pacing.reset(), state.feed != nil)
        }
        for publisher in resume { publisher.resumeReading() }
        // Cluster mode: the room the feed pulls for shrank.
        if clustered { dispatch() }
    }

    /// The journal id of the message the last drop-oldest (max_length) dropped.
    var lastDroppedJournalId: UInt64 { state.withLock { $0.lastDroppedJournalId } }

    /// Gives waiting messages to members with room: the most free capacity
    /// first (the member's in-flight window less the group's messages it
    /// holds unacknowledged), round robin among equals. The group's own
    /// counts rank the members; the member's session has the last word (it refuses
    /// when offline or full), so each message costs one session lock, not one
    /// per member.
    public func dispatch() {
        state.withLock { dispatch(&$0) }.finish(expired)
    }

    /// `dispatch` under the lock already held: returns how many waiting
    /// messages had expired, and the publishers to resume now that the
    /// group drained to its low-water mark.
    private func dispatch(_ state: inout State) -> Dispatched {
        var dispatched = Dispatched(news: state.feed.map { Dispatched.FeedNews(feed: $0) })
        placeReady(&state, &dispatched)
        guard dispatched.news != nil else {
            dispatched.resume = state.pacing.drained(depth: state.ready.count)
            return dispatched
        }
        // One pass over the members (each `isOnline` takes a session lock).
        var free = 0
        var anyOnline = false
        for member in state.members where member.session.isOnline {
            anyOnline = true
            free += max(0, member.session.inflightWindow - member.held)
        }
        // Nobody online here to take what waits: members elsewhere can.
        if !anyOnline, !state.ready.isEmpty {
            dispatched.news?.handedBack = Array(state.ready)
            for message in state.ready { state.attempts.removeValue(forKey: ObjectIdentifier(message)) }
            state.ready.removeAll()
        }
        let room = max(0, free - state.ready.count)
        if room != state.roomTold {
            state.roomTold = room
            dispatched.news?.room = room
        }
        return dispatched
    }

    /// Hands waiting messages to members until none is left or no member
    /// has room; counts the expired ones in `dispatched` (in cluster mode
    /// it also notes them, and the QoS 0 copies handed over, for the feed).
    private func placeReady(_ state: inout State, _ dispatched: inout Dispatched) {
        var order: [Int] = []
        var now: UInt64?
        while let message = state.ready.first {
            if message.expiresAtNanos != nil {
                let time = now ?? Clock.nowNanos()
                now = time
                if message.isExpired(at: time) {
                    state.ready.removeFirst()
                    state.attempts.removeValue(forKey: ObjectIdentifier(message))
                    dispatched.expired += 1
                    dispatched.news?.expiredMessages.append(message)
                    continue
                }
            }
            let count = state.members.count
            guard count > 0 else { return }
            let id = ObjectIdentifier(message)
            // Lookups skipped while nothing was ever refused (the usual case).
            let refuser = state.refusedBy.isEmpty ? nil : state.refusedBy.removeValue(forKey: id)
            let attempts = state.attempts.isEmpty ? 0 : state.attempts[id] ?? 0
            let placed = place(message, attempts: attempts, avoiding: count > 1 ? refuser : nil, in: &state, order: &order)
            guard let index = placed else {
                if let refuser { state.refusedBy[id] = refuser }  // still to be avoided next time
                return  // nobody has room: it waits
            }
            state.nextMember = (index + 1) % count
            state.ready.removeFirst()
            state.members[index].deliveredTotal += 1
            state.deliveredTotal += 1
            if message.maxDeliveryAttempts != nil || attempts > 0 { state.attempts[id, default: 0] += 1 }
            // A QoS 0 copy is done once handed over; QoS 1/2 waits for its ack.
            if min(message.qos, state.members[index].qos) != .atMostOnce {
                state.members[index].held += 1
                state.outstanding[ObjectIdentifier(message)] = Outstanding(
                    publishedAt: message.publishedAtNanos, member: ObjectIdentifier(state.members[index].session)
                )
            } else {
                state.acknowledgedTotal += 1
                state.attempts.removeValue(forKey: ObjectIdentifier(message))
                dispatched.news?.settled.append(message)
            }
        }
    }

    /// Offers `message` to members, most free capacity first (round robin
    /// among equals, the refusing member of a nacked message last), until
    /// one takes it. Returns the member's index, or nil if none had room.
    ///
    /// Free capacity is the member's window less the group's messages it
    /// holds: a member with none is full for certain and is not asked (no
    /// lock taken), so a saturated group costs one scan per publish. The
    /// first choice is found by that scan, with no allocation or sort; it
    /// nearly always accepts. Only when it refuses (offline, or its window
    /// taken by other messages) are the rest ranked, into `order`.
    private func place(
        _ message: Message, attempts: Int, avoiding refuser: ObjectIdentifier?, in state: inout State, order: inout [Int]
    ) -> Int? {
        let count = state.members.count
        let start = state.nextMember % count
        var best = -1
        var bestRank = (0, 0)
        for offset in 0..<count {
            let index = (start + offset) % count
            let rank = Self.rank(state.members[index], refuser: refuser)
            guard rank.1 < 0 else { continue }  // no free capacity
            if best < 0 || rank < bestRank {
                best = index
                bestRank = rank
            }
        }
        guard best >= 0 else { return nil }
        if offer(message, attempts: attempts, to: state.members[best]) { return best }
        order.removeAll(keepingCapacity: true)
        for offset in 0..<count {
            let index = (start + offset) % count
            if index != best, Self.rank(state.members[index], refuser: refuser).1 < 0 { order.append(index) }
        }
        let members = state.members  // a copy-on-write reference, not a copy
        order.sort { Self.rank(members[$0], refuser: refuser) < Self.rank(members[$1], refuser: refuser) }  // stable
        return order.first { offer(message, attempts: attempts, to: members[$0]) }
    }

    /// Lower ranks first: not the member that refused this message, then the
    /// most free capacity (negated, so lower is better).
    @inline(__always)
    private static func rank(_ member: Member, refuser: ObjectIdentifier?) -> (Int, Int) {
        let refused = refuser != nil && ObjectIdentifier(member.session) == refuser ? 1 : 0
        return (refused, member.held - member.session.inflightWindow)
    }

    private func offer(_ message: Message, attempts: Int, to member: Member) -> Bool {
        member.session.enqueueForGroup(
            message, qos: min(message.qos, member.qos), subscriptionIds: member.subscriptionIds, attempts: attempts, group: self
        )
    }

    private static func release(_ entry: Outstanding, in state: inout State) {
        if let index = state.members.firstIndex(where: { ObjectIdentifier($0.session) == entry.member }) {
            state.members[index].held = max(0, state.members[index].held - 1)
        }
    }

    /// A member acknowledged (PUBACK or PUBCOMP) messages this group gave it:
    /// a read batch's worth under one lock, then one dispatch.
    public func acknowledged(_ messages: some Sequence<Message>) {
        let dispatched: Dispatched = state.withLock { state in
            // Cluster mode only: nil on one node, where it would cost an
            // empty array's retain and release per batch.
            var settled: [Message]? = state.feed == nil ? nil : []
            for message in messages {
                if let entry = state.outstanding.removeValue(forKey: ObjectIdentifier(message)) {
                    state.acknowledgedTotal += 1
                    state.attempts.removeValue(forKey: ObjectIdentifier(message))
                    Self.release(entry, in: &state)
                    settled?.append(message)
                }
            }
            let dispatched = dispatch(&state)
            if let settled { dispatched.news?.settled += settled }
            return dispatched
        }
        dispatched.finish(expired)
    }

    public func acknowledged(_ message: Message) {
        acknowledged(CollectionOfOne(message))
    }

    /// A member went away holding these unacknowledged messages: they go back
    /// to the front of the queue, in order, for another member, unless their
    /// policy's delivery attempts are used up (then they are dead-lettered).
    func returned(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        let dead: [(Message, attempts: Int)] = state.withLock { state in
            var dead: [(Message, attempts: Int)] = []
            for message in messages.reversed() {
                let id = ObjectIdentifier(message)
                if let entry = state.outstanding.removeValue(forKey: id) {
                    Self.release(entry, in: &state)
                }
                if let limit = message.maxDeliveryAttempts, state.attempts[id, default: 0] >= limit {
                    dead.append((message, state.attempts.removeValue(forKey: id) ?? limit))
                    continue
                }
                state.ready.prepend(message)
                state.redeliveredTotal += 1
            }
            return dead.reversed()
        }
        if !dead.isEmpty { deadLettered(dead) }
        dispatch()
    }

    /// A member's copy of these deliveries was discarded (its session ended,
    /// or went to another node): they are no longer out with it. On one
    /// node they are gone (past PUBREC they were the member's, and before
    /// it the member handed them back when it went offline). In cluster
    /// mode the feed gets back what it still holds: a QoS 2 delivery whose
    /// PUBREC a session's record keeps was settled then, and is not.
    func discarded(_ messages: [Message]) {
        let dispatched: Dispatched = state.withLock { state in
            for message in messages {
                let id = ObjectIdentifier(message)
                if let entry = state.outstanding.removeValue(forKey: id) { Self.release(entry, in: &state) }
                state.attempts.removeValue(forKey: id)
            }
            let dispatched = dispatch(&state)
            dispatched.news?.handedBack += messages
            return dispatched
        }
        dispatched.finish(expired)
    }

    /// Dead-letters `dead`; in cluster mode the cluster's queue lets them go
    /// once their dead letters are stored (and gets them back if not).
    func deadLettered(_ dead: [(Message, attempts: Int)]) {
        guard let feed = state.withLock({ $0.feed }) else { return deadLetter(dead, nil) }
        let messages = dead.map(\.0)
        deadLetter(dead) { stored in
            if stored { feed.settled(messages, expired: false) } else { feed.handedBack(messages, afterNanos: 0) }
        }
    }

    /// A member refused a message (negative acknowledgement): it is no
    /// longer outstanding with that member. Returns its deliveries so far;
    /// the broker brings it back after a backoff (`redeliver`) or
    /// dead-letters it (`forget`).
    func rejected(_ message: Message, by session: Session) -> Int {
        state.withLock { state in
            let id = ObjectIdentifier(message)
            if let entry = state.outstanding.removeValue(forKey: id) { Self.release(entry, in: &state) }
            let attempts = max(1, state.attempts[id] ?? 1)
            state.attempts[id] = attempts
            return attempts
        }
    }

    /// A refused message is back from its backoff: first in line, for a
    /// member other than the one that refused it where there is one.
    func redeliver(_ message: Message, avoiding member: ObjectIdentifier) {
        state.withLock { state in
            state.ready.prepend(message)
            state.redeliveredTotal += 1
            state.refusedBy[ObjectIdentifier(message)] = member
        }
        dispatch()
    }

    /// A refused message was dead-lettered: its count goes.
    func forget(_ message: Message) {
        state.withLock { state in
            state.attempts.removeValue(forKey: ObjectIdentifier(message))
            state.refusedBy.removeValue(forKey: ObjectIdentifier(message))
        }
    }

    /// Messages dropped when the group itself goes (its last member left).
    /// In cluster mode none: the feed hands back what it pulled (`ClusterLink.groupClosed`).
    func removeAll() -> Int {
        state.withLock { state in
            defer {
                state.ready.removeAll()
                state.outstanding.removeAll()
            }
            return state.feed == nil ? state.ready.count : 0
        }
    }

    // MARK: Metrics

    func snapshot(now: UInt64) -> GroupSnapshot {
        state.withLock { state in
            var figures = QueueFigures(
                depth: state.ready.count, inflight: state.outstanding.count, enqueuedTotal: state.enqueuedTotal,
                deliveredTotal: state.deliveredTotal, acknowledgedTotal: state.acknowledgedTotal,
                oldestQueuedNanos: state.ready.first?.publishedAtNanos,
                oldestInflightNanos: state.outstanding.values.lazy.map(\.publishedAt).min()
            )
            if state.feed != nil {
                // Cluster mode: what waits is the queue's in the cluster (what
                // was pulled here and waits is unacknowledged there too), told
                // by the one reporting node; the others report what their
                // members hold.
                figures.depth = state.clusterBacklog.map { max(0, $0.count - state.outstanding.count) } ?? 0
                figures.oldestQueuedNanos = state.clusterBacklog?.oldestNanos
            }
            var inflightByMember: [ObjectIdentifier: Int] = [:]
            for entry in state.outstanding.values { inflightByMember[entry.member, default: 0] += 1 }
            let members: [GroupSnapshot.Member] = state.members.map { member in
                GroupSnapshot.Member(
                    clientId: member.session.clientId, online: member.session.isOnline,
                    inflight: inflightByMember[ObjectIdentifier(member.session)] ?? 0, deliveredTotal: member.deliveredTotal
                )
            }
            return GroupSnapshot(
                name: name, filter: filter, consumers: members.filter(\.online).count,
                depth: figures.depth, inflight: figures.inflight,
                enqueuedTotal: figures.enqueuedTotal, deliveredTotal: figures.deliveredTotal,
                acknowledgedTotal: figures.acknowledgedTotal, redeliveredTotal: state.redeliveredTotal,
                lagMessages: figures.lagMessages, lagSeconds: figures.lagSeconds(now: now),
                oldestMessageAgeSeconds: figures.oldestMessageAgeSeconds(now: now), members: members
            )
        }
    }
}
