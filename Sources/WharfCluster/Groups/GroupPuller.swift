import Logging
import NIOCore
import Synchronization
import WharfCore
import WharfMQTT
import WharfNATS

/// A consumer group's queue in the cluster as one node with members sees
/// it: the group's `GroupFeed`. It pulls from the group's durable consumer
/// no more than the members here have room for (so JetStream shares the
/// queue out among the nodes by their members' free windows), hands each
/// message to the group (whose in-node rule picks the member), and answers
/// JetStream for each as the group reports back: `+ACK` when a member
/// acknowledged it or its dead letter was stored, `+TERM` when it expired,
/// `-NAK` (with the backoff as delay) when nobody here can take it, a
/// member refused it, or the group's last member here left.
///
/// What it holds it keeps alive with `+WPI` every third of the ack wait, so
/// a member slow to acknowledge does not make JetStream give the message to
/// another node as well; if this node dies, the ack wait gives it back,
/// unless a session's record says its member took it past PUBREC (then the
/// entry is that session's, and is let go: `isReleasedToASession`).
final class GroupPuller: GroupFeed, Sendable {
    /// How long a pull waits at the server. A pull cannot be taken back:
    /// until it expires the server may still hand this node messages, even
    /// after the node gave some back or its group here closed. Short, so
    /// what goes back waits little (`handBackDelay`); an idle group asks
    /// again this often.
    static let pullExpiry = Duration.seconds(2)
    /// What nobody here can take goes back with this delay, past this
    /// node's pulls at the server: handed back at once, it could come
    /// straight back here, costing a delivery attempt each time.
    static let handBackDelay = pullExpiry + .milliseconds(500)

    let group: ConsumerGroup
    let consumer: String
    private let connection: NATSConnection
    private let ackWait: Duration
    private let logger: Logger
    private let onProblem: @Sendable (String) -> Void
    private let isReleasedToASession: @Sendable (UInt64) async -> Bool?
    private let state = Mutex(State())

    private struct State {
        var pull: JetStreamPullConsumer?
        var keepAlive: RepeatedTask?
        /// What the group holds that came from the queue, by message: where
        /// to answer for it, and when JetStream last heard of it.
        var held: [ObjectIdentifier: Held] = [:]
        /// The same, by what makes an entry itself (`Stamp`).
        var heldByStamp: [Stamp: ObjectIdentifier] = [:]
        var room = 0
        var closed = false
        var pulled = 0
        var redelivered = 0
    }

    private struct Held {
        let message: Message
        var reply: String
        /// Its place in the group's queue (the latest the stream gave it).
        var sequence: UInt64
        var touchedAt: NIODeadline
        let stamp: Stamp
    }

    /// An entry's stored time and its `Nats-Msg-Id`'s fingerprint: the same
    /// whatever place the stream gives it and however often it is given out
    /// (`ReplayedEntryFilter` tells a session's entries apart so too).
    /// nats-server 2.9.10, resetting `WHARF_G`, gives out again entries a
    /// member here holds, as first deliveries (the consumer forgot them) or
    /// at other places (a leader that held copies numbered them higher): a
    /// 50-cycle chaos run gave two entries a member held past PUBREC to the
    /// same member again under new packet ids.
    struct Stamp: Hashable {
        var time: JetStreamTimestamp
        var id: UInt32
    }

    init(
        group: ConsumerGroup, connection: NATSConnection, ackWait: Duration, logger: Logger,
        onProblem: @escaping @Sendable (String) -> Void, isReleasedToASession: @escaping @Sendable (UInt64) async -> Bool?
    ) {
        self.isReleasedToASession = isReleasedToASession
        self.group = group
        self.consumer = GroupQueue.consumer(name: group.name, filter: group.filter)
        self.connection = connection
        self.ackWait = ackWait
        self.logger = logger
        self.onProblem = onProblem
    }

    /// The room to pull for now, for a new pull consumer's first credit.
    var room: Int { state.withLock { $0.room } }

    /// Starts pulling through `pull` (made once the durable consumer
    /// exists, with `room` as its credit). False if the group closed
    /// meanwhile (nothing started).
    func start(_ pull: JetStreamPullConsumer) -> Bool {
        let interval = TimeAmount.nanoseconds(ackWait.nanosecondsValue / 3)
        let started = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            state.pull = pull
            state.keepAlive = connection.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                self?.keepHeldAlive()
            }
            return state.room
        }
        guard let room = started else { return false }
        do {
            // Subscribed before the first pull goes out: a pull whose inbox
            // has no subscriber yet is dropped by the server unanswered.
            try pull.start()
        } catch {
            onProblem("pull from group \(group.name): \(error)")
        }
        pull.setCredit(room)
        return true
    }

    /// A message the consumer delivered (on the connection's loop).
    func received(_ message: NATSMessage, _ metadata: JetStreamMessageMetadata, decode: (ByteBuffer) -> Message?) {
        guard let reply = message.replyTo else { return }
        guard let decoded = decode(message.payload) else {
            // Not an entry this node can read: never delivered, never retried.
            answer(reply, .terminate)
            onProblem("group \(group.name): an entry no node can read (sequence \(metadata.streamSequence)); dropped")
            return
        }
        let stamp = Stamp(time: metadata.timestamp, id: ReplayedEntryFilter.fingerprint(message.headers?["Nats-Msg-Id"]))
        // Given out again to this node, which still holds it (its +WPI did
        // not reach the server in time, or the server forgot it: NATS
        // trouble): still the member's it is out with, answered for under
        // the new delivery from now on. A chaos run gave such an entry, past
        // one member's PUBREC while the record write waited out a NATS
        // election, to a second member here.
        if stillHeld(stamp, sequence: metadata.streamSequence, reply: reply) {
            answer(reply, .inProgress)
            return
        }
        guard metadata.delivered > 1 else { return hold(decoded, reply: reply, stamp: stamp, metadata) }
        // Given out again: if a member took it past PUBREC on a node that
        // died before the entry left the queue, it is that session's (the
        // next node sends PUBREL), never another member's. Kept from the
        // ack wait while the records are asked.
        answer(reply, .inProgress)
        Task {
            switch await isReleasedToASession(metadata.streamSequence) {
            case true?:
                answer(reply, .ack)
                logger.debug(
                    "group entry past PUBREC let go", metadata: ["group": "\(group.name)", "sequence": "\(metadata.streamSequence)"])
            case false?:
                hold(decoded, reply: reply, stamp: stamp, metadata)
            case nil:
                answer(reply, .nak(delay: Self.handBackDelay))
            }
        }
    }

    /// Whether the entry `stamp` names is held here; if so, answered for
    /// through `reply`, at `sequence`, from now on.
    private func stillHeld(_ stamp: Stamp, sequence: UInt64, reply: String) -> Bool {
        state.withLock { state in
            guard let key = state.heldByStamp[stamp], state.held[key] != nil else { return false }
            state.held[key]?.reply = reply
            state.held[key]?.sequence = sequence
            state.held[key]?.touchedAt = .now()
            return true
        }
    }

    /// Holds `decoded` (answering for it as the group reports back) and
    /// hands it to the group.
    private func hold(_ decoded: Message, reply: String, stamp: Stamp, _ metadata: JetStreamMessageMetadata) {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.held[ObjectIdentifier(decoded)] = Held(
                message: decoded, reply: reply, sequence: metadata.streamSequence, touchedAt: .now(), stamp: stamp)
            state.heldByStamp[stamp] = ObjectIdentifier(decoded)
            state.pulled += 1
            if metadata.delivered > 1 { state.redelivered += 1 }
            return true
        }
        guard accepted else {
            answer(reply, .nak(delay: Self.handBackDelay))
            return
        }
        group.enqueuePulled(decoded, attempts: Int(min(metadata.delivered, UInt64(Int.max))) - 1)
    }

    /// The group's last member here left: everything held goes back to the
    /// queue, for members on other nodes, and nothing more is pulled. The
    /// pulls already at the server stay answered until they expire: what
    /// they still bring goes back too.
    func close() {
        let (pull, timer, held) = state.withLock { state in
            state.closed = true
            defer {
                state.pull = nil
                state.keepAlive = nil
                state.held.removeAll()
                state.heldByStamp.removeAll()
            }
            return (state.pull, state.keepAlive, Array(state.held.values))
        }
        timer?.cancel()
        for entry in held { answer(entry.reply, .nak(delay: Self.handBackDelay)) }
        guard let pull else { return }
        pull.setCredit(0)
        connection.eventLoop.scheduleTask(in: .nanoseconds((Self.pullExpiry + .seconds(1)).nanosecondsValue)) { pull.stop() }
    }

    /// The place in the group's queue of `message`, if it holds it.
    func sequence(of message: Message) -> UInt64? {
        state.withLock { $0.held[ObjectIdentifier(message)]?.sequence }
    }

    /// Messages pulled so far, and how many of them were redeliveries.
    var counts: (pulled: Int, redelivered: Int, held: Int) {
        state.withLock { ($0.pulled, $0.redelivered, $0.held.count) }
    }

    // MARK: GroupFeed

    func settled(_ messages: [Message], expired: Bool) {
        for reply in take(messages) { answer(reply, expired ? .terminate : .ack) }
    }

    func handedBack(_ messages: [Message], afterNanos delayNanos: UInt64) {
        // A refusal's backoff as asked; anything else past this node's pulls.
        let delay: Duration = delayNanos > 0 ? .nanoseconds(Int64(min(delayNanos, UInt64(Int64.max)))) : Self.handBackDelay
        for reply in take(messages) { answer(reply, .nak(delay: delay)) }
    }

    func roomChanged(_ room: Int) {
        let pull = state.withLock { state in
            state.room = room
            return state.pull
        }
        pull?.setCredit(room)
    }

    // MARK: Answers

    private func take(_ messages: [Message]) -> [String] {
        state.withLock { state in
            messages.compactMap { message in
                guard let entry = state.held.removeValue(forKey: ObjectIdentifier(message)) else { return nil }
                if state.heldByStamp[entry.stamp] == ObjectIdentifier(message) { state.heldByStamp[entry.stamp] = nil }
                return entry.reply
            }
        }
    }

    private func answer(_ reply: String, _ kind: AckKind) {
        do {
            try connection.publish(reply, payload: ByteBuffer(bytes: kind.payload))
        } catch {
            // Not sent: JetStream gives the message out again after the ack
            // wait (a duplicate at worst, never a loss).
            logger.debug("cannot answer for a group message", metadata: ["problem": "\(error)"])
        }
    }

    /// `+WPI` for what has been held a third of the ack wait.
    private func keepHeldAlive() {
        let now = NIODeadline.now()
        let due = now - .nanoseconds(ackWait.nanosecondsValue / 3)
        let replies = state.withLock { state -> [String] in
            var replies: [String] = []
            for (key, entry) in state.held where entry.touchedAt <= due {
                replies.append(entry.reply)
                state.held[key]?.touchedAt = now
            }
            return replies
        }
        for reply in replies { answer(reply, .inProgress) }
    }
}
