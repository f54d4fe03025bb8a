import DequeModule
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

    /// A delivery in flight: what was sent, and which acknowledgement it awaits.
    struct Inflight: Sendable {
        var delivery: Delivery
        var phase: InflightPhase
    }

    /// A delivery the consumer has acknowledged (or refused).
    public typealias Acknowledged = Delivery

    private var pending = Deque<Delivery>()
    private var inflight = OrderedDictionary<UInt16, Inflight>()
    private var lastPacketId: UInt16 = 0
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
            oldestInflightNanos: inflight.values.first?.delivery.message.publishedAtNanos
        )
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
        subscriptionIds: SubscriptionIdentifiers = .none, group: ConsumerGroup? = nil, attempts: Int = 0
    ) -> EnqueueResult {
        var result = EnqueueResult.accepted
        if !onSubscribe, group == nil, let limit = message.maxQueueLength, pending.count >= limit {
            guard message.overflow == .dropOldest, !pending.isEmpty else { return .droppedMaxLength }
            lastDroppedJournalId = pending.removeFirst().message.journalId
            result = .acceptedDroppedOldest
        }
        guard onSubscribe || pending.count < maxQueued else { return .droppedQueueFull }
        pending.append(Delivery(
            message: message, qos: qos, retain: retain, onSubscribe: onSubscribe, subscriptionIds: subscriptionIds,
            group: group, attempts: attempts
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
                packets.append(.publish(
                    head.message, qos: .atMostOnce, packetId: nil, retain: head.retain, dup: false, subscriptionIds: head.subscriptionIds
                ))
                continue
            }
            guard inflight.count < maxInflight else { return expired }
            pending.removeFirst()
            let id = allocatePacketId()
            var sent = head
            sent.attempts += 1
            inflight[id] = Inflight(delivery: sent, phase: .awaitingAck)
            deliveredTotal += 1
            packets.append(.publish(
                head.message, qos: head.qos, packetId: id, retain: head.retain, dup: false, subscriptionIds: head.subscriptionIds
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
            let delivery = entry.delivery
            switch entry.phase {
            case .awaitingAck:
                if let limit = delivery.message.maxDeliveryAttempts, delivery.attempts >= limit {
                    deadLetters.append((delivery.message, delivery.attempts))
                    continue
                }
                inflight[id]!.delivery.attempts += 1
                packets.append(.publish(
                    delivery.message, qos: delivery.qos, packetId: id, retain: delivery.retain, dup: true,
                    subscriptionIds: delivery.subscriptionIds
                ))
            case .awaitingComplete:
                packets.append(.pubrel(packetId: id))
            }
        }
        if !deadLetters.isEmpty {
            inflight = inflight.filter { entry in !deadLetters.contains { $0.0 === entry.value.delivery.message } }
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
            delivery: Delivery(
                message: message, qos: qos, retain: retain, onSubscribe: false, subscriptionIds: subscriptionIds, group: nil,
                attempts: max(1, attempts)
            ),
            phase: released ? .awaitingComplete : .awaitingAck
        )
        enqueuedTotal += 1
    }

    /// The message in flight under `id`, if any.
    public func inflightMessage(_ id: UInt16) -> Message? { inflight[id]?.delivery.message }

    /// The QoS and phase of the delivery in flight under `id`, if any: which
    /// acknowledgement it is waiting for.
    public func inflightState(_ id: UInt16) -> (qos: QoS, phase: InflightPhase)? {
        inflight[id].map { ($0.delivery.qos, $0.phase) }
    }

    /// The consumer group an in-flight message came from, if any.
    public func inflightGroup(_ id: UInt16) -> ConsumerGroup? { inflight[id]?.delivery.group }

    /// PUBACK for a QoS 1 message. Returns what was acknowledged, or nil for an unknown id.
    public mutating func acknowledge(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.delivery.qos == .atLeastOnce else { return nil }
        inflight.removeValue(forKey: id)
        acknowledgedTotal += 1
        return entry.delivery
    }

    /// PUBACK or PUBREC with a failure reason code (5.0): the consumer
    /// refused the message. It leaves the window; the caller decides whether
    /// it is delivered again (after a backoff) or dead-lettered.
    public mutating func reject(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.phase == .awaitingAck else { return nil }
        inflight.removeValue(forKey: id)
        return entry.delivery
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
        guard var entry = inflight[id], entry.delivery.qos == .exactlyOnce else { return false }
        entry.phase = .awaitingComplete
        inflight[id] = entry
        return true
    }

    /// PUBCOMP ends a QoS 2 delivery.
    public mutating func completed(_ id: UInt16) -> Acknowledged? {
        guard let entry = inflight[id], entry.phase == .awaitingComplete else { return nil }
        inflight.removeValue(forKey: id)
        acknowledgedTotal += 1
        return entry.delivery
    }

    /// Takes out every message a consumer group handed over that the client
    /// has not acknowledged (waiting, or sent and awaiting PUBACK/PUBREC), so
    /// the group can give them to another member. QoS 2 messages past PUBREC
    /// stay: the client has them, and only PUBREL/PUBCOMP remain.
    public mutating func removeGroupMessages() -> [(ConsumerGroup, Message)] {
        var taken: [(ConsumerGroup, Message)] = []
        for (id, entry) in inflight where entry.delivery.group != nil && entry.phase == .awaitingAck {
            taken.append((entry.delivery.group!, entry.delivery.message))
            inflight.removeValue(forKey: id)
        }
        var kept = Deque<Delivery>()
        for entry in pending {
            if let group = entry.group { taken.append((group, entry.message)) } else { kept.append(entry) }
        }
        pending = kept
        return taken
    }

    /// Drops everything (clean session end). Returns how many messages were lost.
    public mutating func removeAll() -> Int {
        let count = pending.count + inflight.count
        pending.removeAll()
        inflight.removeAll()
        return count
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
