import DequeModule
import NIOCore
import OrderedCollections
import WharfMQTT

/// One packet the connection must write for a session.
public enum OutboundPacket: Sendable {
    case publish(Message, qos: QoS, packetId: UInt16?, retain: Bool, dup: Bool, subscriptionIds: SubscriptionIdentifiers)
    /// QoS 2 second phase, resent after a reconnect.
    case pubrel(packetId: UInt16)
}

/// Server-to-client delivery state of one session: messages waiting to be
/// sent, and QoS 1/2 messages sent but not yet acknowledged, in send order.
///
/// A value type with no locks or I/O: `Session` guards it, and tests drive it
/// directly.
public struct OutboundQueue: Sendable {
    public enum InflightPhase: Sendable, Hashable {
        /// QoS 1 waiting for PUBACK, or QoS 2 waiting for PUBREC.
        case awaitingAck
        /// QoS 2 after PUBREC: PUBREL sent, waiting for PUBCOMP.
        case awaitingComplete
    }

    struct Pending: Sendable {
        var message: Message
        var qos: QoS
        /// The RETAIN flag on the wire.
        var retain: Bool
        /// From the retained store on subscribe (not a live delivery).
        var onSubscribe: Bool
        var subscriptionIds: SubscriptionIdentifiers
        /// The consumer group that handed this message over, if any.
        var group: ConsumerGroup?
        /// Deliveries already made of it (a negatively acknowledged message
        /// coming back keeps its count).
        var attempts: Int
        /// Its place in the session's queue in the cluster (0: not from there).
        var inboxSequence: UInt64 = 0
        /// Another node may have sent it to this client already: its first
        /// send here carries DUP.
        var maybeSent = false
    }

    struct Inflight: Sendable {
        var message: Message
        var qos: QoS
        var retain: Bool
        var onSubscribe: Bool
        var subscriptionIds: SubscriptionIdentifiers
        var phase: InflightPhase
        var group: ConsumerGroup?
        /// Sends so far: 1, then one more per resend after a reconnect.
        var attempts: Int
        var inboxSequence: UInt64 = 0
    }

    /// A delivery the consumer has acknowledged.
    public struct Acknowledged: Sendable {
        public let message: Message
        public let qos: QoS
        /// Deliveries made of it, this one included.
        public let attempts: Int
        /// A retained message sent on subscribe: its age is not transit
        /// time, so latency figures leave it out.
        public let sentOnSubscribe: Bool
        /// The consumer group it came from: it learns of the acknowledgement.
        public let group: ConsumerGroup?
        /// The subscription identifiers it carried, for a redelivery.
        public let subscriptionIds: SubscriptionIdentifiers
        /// Its place in the session's queue in the cluster (0: not from there),
        /// kept by a redelivery so the queue holds it until it is done.
        public let inboxSequence: UInt64

        init(_ entry: Inflight) {
            message = entry.message
            qos = entry.qos
            attempts = entry.attempts
            sentOnSubscribe = entry.onSubscribe
            group = entry.group
            subscriptionIds = entry.subscriptionIds
            inboxSequence = entry.inboxSequence
        }
    }

    private var pending = Deque<Pending>()
    private var inflight = OrderedDictionary<UInt16, Inflight>()
    /// The packet id given out last (0: none yet).
    public private(set) var lastPacketId: UInt16 = 0
    /// The journal id of the message the last drop-oldest took out (its
    /// removal must be journaled).
    public private(set) var lastDroppedJournalId: UInt64 = 0
    private var enqueuedTotal = 0
    private var deliveredTotal = 0
    private var acknowledgedTotal = 0

    /// What the metrics snapshot reports for this queue.
    public var figures: QueueFigures {
        QueueFigures(
            depth: pending.count, inflight: inflight.count, enqueuedTotal: enqueuedTotal,
            deliveredTotal: deliveredTotal, acknowledgedTotal: acknowledgedTotal,
            oldestQueuedNanos: pending.first?.message.publishedAtNanos,
            oldestInflightNanos: inflight.values.first?.message.publishedAtNanos
        )
    }

    /// The figures of an offline session whose queue is the cluster's: the
    /// queue there holds `count` entries (the oldest published at
    /// `oldestNanos`), some of them held here too (read while it was online,
    /// not acknowledged). Waiting: what is waiting here plus what was never
    /// read; so summed over nodes, each entry counts once.
    public func figures(clusterBacklog count: Int, oldestNanos: UInt64?) -> QueueFigures {
        var figures = self.figures
        let held = pending.count { $0.inboxSequence != 0 } + inflight.values.count { $0.inboxSequence != 0 }
        figures.depth = pending.count + max(0, count - held)
        if let oldestNanos { figures.oldestQueuedNanos = min(figures.oldestQueuedNanos ?? .max, oldestNanos) }
        return figures
    }

    public var maxInflight: Int
    public var maxQueued: Int

    public init(maxInflight: Int, maxQueued: Int) {
        precondition(maxInflight >= 1 && maxInflight < Int(UInt16.max))
        self.maxInflight = maxInflight
        self.maxQueued = maxQueued
    }

    public var queuedCount: Int { pending.count }
    public var inflightCount: Int { inflight.count }

    /// True when `nextPackets` would produce something now.
    public var canSend: Bool {
        guard let head = pending.first else { return false }
        return head.qos == .atMostOnce || inflight.count < maxInflight
    }

    /// A consumer group's handover skips the policy's `max_length`: the group
    /// applied it to its own queue, and the member had room. Retained
    /// messages sent on subscribe (`retain` set) skip every limit: the spec
    /// requires them all (3.1.1 section 3.3.1.3), and the retained store
    /// bounds how many there can be.
    public mutating func enqueue(
        _ message: Message, qos: QoS, retain: Bool, onSubscribe: Bool = false,
        subscriptionIds: SubscriptionIdentifiers = .none, group: ConsumerGroup? = nil, attempts: Int = 0, inboxSequence: UInt64 = 0,
        maybeSent: Bool = false
    ) -> EnqueueResult {
        var result = EnqueueResult.accepted
        if !onSubscribe, group == nil, let limit = message.maxQueueLength, pending.count >= limit {
            guard message.overflow == .dropOldest, !pending.isEmpty else { return .droppedMaxLength }
            lastDroppedJournalId = pending.removeFirst().message.journalId
            result = .acceptedDroppedOldest
        }
        guard onSubscribe || pending.count < maxQueued else { return .droppedQueueFull }
        pending.append(
            Pending(
                message: message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds,
                group: group, attempts: attempts, inboxSequence: inboxSequence, maybeSent: maybeSent
            ))
        enqueuedTotal += 1
        return result
    }

    /// Moves what the in-flight window allows from the queue to the wire, in
    /// order: a QoS 0 message behind a blocked QoS 1/2 one waits too, so
    /// per-topic order holds.
    /// Messages whose TTL passed while they waited are dropped on the way;
    /// the return value counts them.
    @discardableResult
    public mutating func nextPackets(into packets: inout [OutboundPacket]) -> Int {
        var expired = 0
        var now: UInt64?
        while let head = pending.first {
            if head.message.expiresAtNanos != nil {
                let time = now ?? Clock.nowNanos()
                now = time
                if head.message.isExpired(at: time) {
                    pending.removeFirst()
                    expired += 1
                    continue
                }
            }
            if head.qos == .atMostOnce {
                pending.removeFirst()
                deliveredTotal += 1
                packets.append(
                    .publish(
                        head.message, qos: .atMostOnce, packetId: nil, retain: head.retain, dup: false,
                        subscriptionIds: head.subscriptionIds
                    ))
                continue
            }
            guard inflight.count < maxInflight else { return expired }
            pending.removeFirst()
            let id = allocatePacketId()
            inflight[id] = Inflight(
                message: head.message, qos: head.qos, retain: head.retain, onSubscribe: head.onSubscribe,
                subscriptionIds: head.subscriptionIds, phase: .awaitingAck, group: head.group, attempts: head.attempts + 1,
                inboxSequence: head.inboxSequence
            )
            deliveredTotal += 1
            packets.append(
                .publish(
                    head.message, qos: head.qos, packetId: id, retain: head.retain, dup: head.maybeSent,
                    subscriptionIds: head.subscriptionIds
                ))
        }
        return expired
    }

    /// Everything in flight, to resend in order after a reconnect: PUBLISH
    /// with DUP set for unacknowledged ones, PUBREL for those past PUBREC.
    /// A message whose policy allows no more delivery attempts is taken out
    /// instead and returned, to be dead-lettered.
    @discardableResult
    public mutating func resendPackets(into packets: inout [OutboundPacket]) -> [(Message, attempts: Int)] {
        var deadLetters: [(Message, attempts: Int)] = []
        for (id, entry) in inflight {
            switch entry.phase {
            case .awaitingAck:
                if let limit = entry.message.maxDeliveryAttempts, entry.attempts >= limit {
                    deadLetters.append((entry.message, entry.attempts))
                    continue
                }
                inflight[id]!.attempts += 1
                packets.append(
                    .publish(
                        entry.message, qos: entry.qos, packetId: id, retain: entry.retain, dup: true, subscriptionIds: entry.subscriptionIds
                    ))
            case .awaitingComplete:
                packets.append(.pubrel(packetId: id))
            }
        }
        if !deadLetters.isEmpty {
            inflight = inflight.filter { entry in !deadLetters.contains { $0.0 === entry.value.message } }
        }
        return deadLetters
    }

    /// A QoS 2 message the journal says went out under `packetId`
    /// before a restart: resent with DUP on the next connection.
    public mutating func restoreInflight(
        _ message: Message, qos: QoS, packetId: UInt16, retain: Bool, subscriptionIds: SubscriptionIdentifiers, attempts: Int,
        released: Bool = false
    ) {
        guard inflight[packetId] == nil else {
            _ = enqueue(message, qos: qos, retain: retain, subscriptionIds: subscriptionIds, attempts: attempts)
            return
        }
        inflight[packetId] = Inflight(
            message: message, qos: qos, retain: retain, onSubscribe: false, subscriptionIds: subscriptionIds,
            phase: released ? .awaitingComplete : .awaitingAck, group: nil, attempts: max(1, attempts)
        )
        enqueuedTotal += 1
    }

    /// A QoS 2 delivery another connection took to PUBREC (cluster mode):
    /// in flight past PUBREC under `packetId`, so a reconnect sends PUBREL.
    /// The message is the client's; an empty stand-in keeps the entry's
    /// shape. False if the id is in flight here already.
    public mutating func restoreReleased(packetId: UInt16, inboxSequence: UInt64) -> Bool {
        guard inflight[packetId] == nil else { return false }
        inflight[packetId] = Inflight(
            message: Message(topic: "", payload: ByteBuffer(), qos: .exactlyOnce, retain: false), qos: .exactlyOnce, retain: false,
            onSubscribe: false, subscriptionIds: .none, phase: .awaitingComplete, group: nil, attempts: 1, inboxSequence: inboxSequence)
        enqueuedTotal += 1
        return true
    }

    func holdsInFlight(inboxSequence: UInt64) -> Bool {
        inflight.values.contains { $0.inboxSequence == inboxSequence }
    }

    func inboxSequence(ofInflight id: UInt16) -> UInt64 { inflight[id]?.inboxSequence ?? 0 }

    /// The highest cluster-queue place in flight (0: none).
    var highestInflightInboxSequence: UInt64 { inflight.values.reduce(0) { max($0, $1.inboxSequence) } }

    /// The message in flight under `id`, if any.
    public func inflightMessage(_ id: UInt16) -> Message? { inflight[id]?.message }

    /// The QoS and phase of the delivery in flight under `id`, if any: which
    /// acknowledgement it is waiting for.
    public func inflightState(_ id: UInt16) -> (qos: QoS, phase: InflightPhase)? {
        inflight[id].map { ($0.qos, $0.phase) }
    }

    /// The consumer group an in-flight message came from, if any.
    public func inflightGroup(_ id: UInt16) -> ConsumerGroup? { inflight[id]?.group }

    /// PUBACK for a QoS 1 message. Returns what was acknowledged, or nil for an unknown id.
    public mutating func acknowledge(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.qos == .atLeastOnce else { return nil }
        inflight.removeValue(forKey: id)
        acknowledgedTotal += 1
        return Acknowledged(entry)
    }

    /// PUBACK or PUBREC with a failure reason code (5.0): the consumer
    /// refused the message. It leaves the window; the caller decides whether
    /// it is delivered again (after a backoff) or dead-lettered.
    public mutating func reject(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.phase == .awaitingAck else { return nil }
        inflight.removeValue(forKey: id)
        return Acknowledged(entry)
    }

    /// Takes a message out of the window without a reply from the client:
    /// it could not be sent to it (larger than the client's maximum packet
    /// size, 5.0 section 3.1.2.11.4), so it is treated as delivered.
    public mutating func abandon(_ id: UInt16) {
        if inflight.removeValue(forKey: id) != nil { acknowledgedTotal += 1 }
    }

    /// PUBREC for a QoS 2 message. The PUBREL must be sent whether or not the
    /// id is known (a repeat after reconnect); returns true if it was known.
    public mutating func received(_ id: UInt16) -> Bool {
        guard var entry = inflight[id], entry.qos == .exactlyOnce else { return false }
        entry.phase = .awaitingComplete
        inflight[id] = entry
        return true
    }

    /// PUBCOMP ends a QoS 2 delivery.
    public mutating func completed(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.phase == .awaitingComplete else { return nil }
        inflight.removeValue(forKey: id)
        acknowledgedTotal += 1
        return Acknowledged(entry)
    }

    /// Takes out every message a consumer group handed over that the client
    /// has not acknowledged (waiting, or sent and awaiting PUBACK/PUBREC), so
    /// the group can give them to another member. QoS 2 messages past PUBREC
    /// stay: the client has them, and only PUBREL/PUBCOMP remain.
    public mutating func removeGroupMessages() -> [(ConsumerGroup, Message)] {
        var taken: [(ConsumerGroup, Message)] = []
        for (id, entry) in inflight where entry.group != nil && entry.phase == .awaitingAck {
            taken.append((entry.group!, entry.message))
            inflight.removeValue(forKey: id)
        }
        var kept = Deque<Pending>()
        for entry in pending {
            if let group = entry.group { taken.append((group, entry.message)) } else { kept.append(entry) }
        }
        pending = kept
        return taken
    }

    /// The oldest place in the session's cluster queue this queue still
    /// holds (waiting or in flight); nil when it holds none. Everything the
    /// cluster queue has before it was acknowledged or dropped here.
    /// Waiting messages are in queue order, so the first one from the
    /// cluster queue is the oldest of them; the window is small.
    public var oldestInboxSequence: UInt64? {
        var oldest = pending.first { $0.inboxSequence != 0 }?.inboxSequence
        for entry in inflight.values where entry.inboxSequence != 0 {
            oldest = min(oldest ?? .max, entry.inboxSequence)
        }
        return oldest
    }

    /// Drops everything (clean session end). Returns how many messages were lost.
    /// Empties the queue: how many messages it held, and which of them a
    /// consumer group handed over (the group stops counting them as out
    /// with this member).
    public mutating func removeAll() -> (count: Int, fromGroups: [(ConsumerGroup, Message)]) {
        let count = pending.count + inflight.count
        var fromGroups: [(ConsumerGroup, Message)] = []
        for entry in inflight.values { if let group = entry.group { fromGroups.append((group, entry.message)) } }
        for entry in pending { if let group = entry.group { fromGroups.append((group, entry.message)) } }
        pending.removeAll()
        inflight.removeAll()
        return (count, fromGroups)
    }

    /// Packet ids go on after `id` (a session another node delivered last):
    /// see `Session.continuePacketIds(after:)`.
    public mutating func continuePacketIds(after id: UInt16) {
        lastPacketId = id
    }

    /// Next free non-zero id after the last one used; the window is far below
    /// 65,535 so a free one always exists.
    private mutating func allocatePacketId() -> UInt16 {
        repeat {
            lastPacketId = lastPacketId == UInt16.max ? 1 : lastPacketId + 1
        } while inflight[lastPacketId] != nil
        return lastPacketId
    }
}
