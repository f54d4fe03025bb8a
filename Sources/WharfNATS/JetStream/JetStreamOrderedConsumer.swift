import NIOCore
import Synchronization

/// Follows a stream's subjects in order with nothing missed: from where
/// `start` says, then every new message as it is stored.
///
/// An ordered consumer, as NATS clients make them: an ephemeral push
/// consumer in memory on one server, no acks, flow control and idle
/// heartbeats. A gap in its sequence, or heartbeats that stop (its server
/// died, our connection moved and it was lost), and it is made again from
/// the sequence after the last one seen. Handlers run on the connection's
/// loop. Cheap for the server (no acks, no replicas), so fit for readers
/// that only follow: KV watches, a node's inbox.
public final class JetStreamOrderedConsumer: Sendable {
    public typealias Handler = @Sendable (NATSMessage, JetStreamMessageMetadata) -> Void

    /// Where the first consumer starts (later ones resume after the last seen).
    public enum Start: Sendable {
        case all
        case lastPerSubject
        case new
    }

    let jetStream: JetStream
    let stream: String
    let filter: String
    let start: Start
    let label: String
    let heartbeat: Duration
    /// How long one create may go unanswered before it is tried again under
    /// another name. Short on purpose: nats-server 2.9.10 places an R1
    /// consumer on a stream peer that is offline about one time in three
    /// (measured with one of three servers down) and never answers that
    /// create; the next try lands elsewhere. A create that works answers
    /// in milliseconds. Every third try waits longer (up to four times
    /// this), so a server too busy to answer in time is not asked forever.
    let createTimeout: Duration
    /// Whether each consumer's first message is checked against the
    /// stream leader (see `checksStartWithLeader`).
    let checksStart: Bool
    /// How often a quiet checked reader asks the leader for what it may
    /// have missed (`OrderedReaderLeaderProbe`); nil: never.
    let leaderProbeInterval: Duration?
    let handler: Handler
    let onCaughtUp: (@Sendable () -> Void)?
    let onProblem: (@Sendable (String) -> Void)?
    private let state = Mutex(State())

    /// The check of a consumer's first message (`checksStartWithLeader`).
    enum StartCheck {
        case none
        /// The stream sequence the leader held first where it starts, and
        /// when that message was stored: the same message has the same
        /// time on every replica.
        case first(UInt64, time: JetStreamTimestamp)
        /// The leader held nothing from where it starts: its first message
        /// is not handed over, and the consumer is made again from what the
        /// leader holds then (the messages before it, if a server behind
        /// skipped any, included).
        case unknown
    }
    /// Tests: runs between the leader read and the create, where a server
    /// behind the leader would lose messages.
    let beforeCreate = Mutex<(@Sendable () async -> Void)?>(nil)

    struct State {
        var deliverSubject = ""
        var subscription: NATSSubscription?
        var consumer: String?
        /// Consumer sequence expected next; a different one is a gap.
        var expectedConsumerSequence: UInt64 = 1
        var lastRevision: UInt64 = 0
        /// When the last message handed over was stored (checked readers).
        var lastTimestamp: JetStreamTimestamp?
        var lastActivity = NIODeadline.now()
        var caughtUp = false
        var resetting = false
        var stopped = false
        var timer: RepeatedTask?
        var resets = 0
        /// What the current consumer's first message is checked against.
        var startCheck = StartCheck.none
        var probe = OrderedReaderLeaderProbe()
        /// A reset the consumer being made asked for (a gap, a late start)
        /// before its create returned: done once the make ends.
        var pendingReset: (reason: String, pause: Duration?)?
        /// What the last message handed over said was left after it.
        var lastPending: UInt64?
    }

    /// `label` names it in problem reports.
    ///
    /// `checksStartWithLeader`: before each consumer is made, the stream
    /// leader is asked for the first message it should deliver, and the
    /// consumer starts there and must deliver that one first. nats-server
    /// 2.9.10 puts an R1 consumer on any of the stream's peers, and it
    /// starts from what that server has: the chaos run saw a session's
    /// reader begin past entries the leader held, on a server restarted
    /// moments before (one that had replayed a purge as a compaction of
    /// everything older, see `StreamMessageDeleteRequest`; a server still
    /// catching up would do the same). A consumer that starts later than the
    /// leader says is made again; one made while the leader held nothing
    /// from there is made again at its first message (`StartCheck`). For
    /// readers that must see every
    /// message (a session's queue, forwards); a watcher of last values
    /// needs no check. Costs one leader read per consumer made.
    ///
    /// `leaderProbeInterval` (checked readers): while quiet, the leader is
    /// asked at most this often for a message past the last one handed over
    /// (`OrderedReaderLeaderProbe`).
    public init(
        jetStream: JetStream, stream: String, filter: String, start: Start, label: String, heartbeat: Duration = .seconds(2),
        createTimeout: Duration = .seconds(2), checksStartWithLeader: Bool = false, leaderProbeInterval: Duration? = nil,
        onCaughtUp: (@Sendable () -> Void)? = nil, onProblem: (@Sendable (String) -> Void)? = nil, handler: @escaping Handler
    ) {
        self.jetStream = jetStream
        self.stream = stream
        self.filter = filter
        self.start = start
        self.label = label
        self.heartbeat = heartbeat
        self.createTimeout = createTimeout
        self.checksStart = checksStartWithLeader
        self.leaderProbeInterval = checksStartWithLeader ? leaderProbeInterval : nil
        self.handler = handler
        self.onCaughtUp = onCaughtUp
        self.onProblem = onProblem
    }

    /// Starts following: returns once a consumer exists (what was stored
    /// then arrives; `onCaughtUp` says when it all has) or `stop()` was
    /// called. A create that fails is reported to `onProblem` and tried
    /// again until one works: a reader in a cluster waits out an election
    /// or a lost server rather than giving up.
    public func run() async {
        let timer = jetStream.connection.eventLoop.scheduleRepeatedTask(
            initialDelay: .nanoseconds(heartbeat.nanoseconds), delay: .nanoseconds(heartbeat.nanoseconds)
        ) { [self] _ in watchdog() }
        let stopped = state.withLock { state in
            state.timer = timer
            // The watchdog leaves the first create to this call.
            state.resetting = true
            return state.stopped
        }
        if stopped {
            timer.cancel()
            return
        }
        await makeUntilMade()
    }

    public func stop() async {
        let (subscription, consumer, timer) = state.withLock { state in
            state.stopped = true
            return (state.subscription, state.consumer, state.timer)
        }
        timer?.cancel()
        subscription?.unsubscribe()
        if let consumer { try? await jetStream.deleteConsumer(stream, consumer) }
    }

    /// Times the consumer was made again after a gap or a silence.
    public var resets: Int { state.withLock { $0.resets } }

    /// The consumer on the server now (nil while none is made).
    var consumerName: String? { state.withLock { $0.consumer } }

    /// Where its consumer pushes ("" while none is taken from).
    var deliverSubject: String { state.withLock { $0.deliverSubject } }

    /// The stream sequence of the last message handed over.
    public var lastSequence: UInt64 { state.withLock { $0.lastRevision } }

    /// Where it is, for a report of a reader that has not caught up: its
    /// consumer, how far it handed over, what the server said was left.
    public var progress: String {
        state.withLock { state in
            let consumer = state.consumer.map { "consumer \($0)" } ?? "no consumer"
            let pending = state.lastPending.map { ", \($0) left after it" } ?? ""
            return "\(label): \(consumer), \(state.expectedConsumerSequence - 1) from it through stream sequence "
                + "\(state.lastRevision)\(pending), \(state.resets) resets"
        }
    }

    /// Makes the consumer, starting after the last message seen.
    private func makeConsumer(timeout: Duration) async throws(JetStreamError) {
        let connection = jetStream.connection
        // What the leader holds from where this consumer starts. A reader of
        // new messages that has seen none has no place to check from.
        var leaderFirst: UInt64 = 0
        var check = StartCheck.none
        let resumeAfter = state.withLock { $0.lastRevision }
        if checksStart, start != .new || resumeAfter > 0 {
            let next = try await jetStream.getMessage(stream, .next(subject: filter, from: resumeAfter + 1), timeout: timeout)
            leaderFirst = next?.sequence ?? 0
            check = next.map { .first($0.sequence, time: $0.time) } ?? .unknown
        }
        if let hook = beforeCreate.withLock({ $0 }) { await hook() }
        let deliverSubject = connection.newInbox()
        let name = "ordered_" + String(deliverSubject.split(separator: ".").last ?? "o")
        let (startAfter, old) = state.withLock { state in
            state.deliverSubject = deliverSubject
            state.expectedConsumerSequence = 1
            state.lastActivity = .now()
            // Known before the answer, so a create that is not answered can
            // be deleted wherever it went.
            state.consumer = name
            state.startCheck = check
            state.probe.forget()
            state.pendingReset = nil
            return (state.lastRevision, state.subscription)
        }
        old?.unsubscribe()
        let subscription: NATSSubscription
        do {
            subscription = try connection.subscribe(deliverSubject) { [self] message in received(message, on: deliverSubject) }
        } catch {
            throw JetStreamError(error)
        }
        state.withLock { $0.subscription = subscription }
        // Named (the form 2.9.10 takes for a filtered create), ephemeral
        // (no durable name: it goes after `inactiveThreshold` unwatched).
        let first: DeliverPolicy =
            switch start {
            case .all: .all
            case .lastPerSubject: .lastPerSubject
            case .new: .new
            }
        var config = ConsumerConfig(
            name: name,
            deliverPolicy: startAfter == 0 ? first : .byStartSequence, ackPolicy: .none,
            filterSubject: filter, replicas: 1, memoryStorage: true)
        if startAfter > 0 { config.optStartSequence = startAfter + 1 }
        // Where the leader's first one is (later than `startAfter` when the
        // queue was purged behind it: the same messages).
        if leaderFirst > 0 {
            config.deliverPolicy = .byStartSequence
            config.optStartSequence = leaderFirst
        }
        config.idleHeartbeat = heartbeat
        config.flowControl = true
        config.deliverSubject = deliverSubject
        config.inactiveThreshold = .seconds(30)
        let info = try await jetStream.createConsumer(stream, config, timeout: timeout)
        let caughtUpNow = state.withLock { state -> Bool in
            state.consumer = info.name
            // A reader of new messages that got none yet goes on, after a
            // reset, from where this consumer started: asking for new ones
            // again would skip what was stored in between (forwards to this
            // node, lost, when a server died before the first one came).
            if start == .new { state.lastRevision = max(state.lastRevision, info.delivered.streamSequence) }
            // Nothing pending on a server the leader is ahead of is not caught up.
            guard !state.caughtUp, leaderFirst == 0, info.numPending == 0, info.delivered.consumerSequence == 0 else { return false }
            state.caughtUp = true
            return true
        }
        if caughtUpNow { onCaughtUp?() }
    }

    private func received(_ message: NATSMessage, on deliverSubject: String) {
        if message.status == 100 {
            // A heartbeat, or flow control asking for an answer.
            state.withLock { $0.lastActivity = .now() }
            if let reply = message.replyTo ?? message.headers?["Nats-Consumer-Stalled"] {
                try? jetStream.connection.publish(reply)
            } else {
                idleHeartbeat(message, on: deliverSubject)
            }
            return
        }
        guard let metadata = message.replyTo.flatMap(JetStreamMessageMetadata.init(replySubject:)) else { return }
        let verdict = state.withLock { state in
            state.lastActivity = .now()
            return state.judge(metadata, on: deliverSubject, checksStart: checksStart)
        }
        switch verdict {
        case .stale:
            return
        case .gap:
            reset(because: "sequence gap")
        case .behindLeader(let expected):
            reset(
                because: "its server started at \(metadata.streamSequence), the stream leader at \(expected) (a server behind the leader)",
                pause: .milliseconds(100))
        case .divergent(let sequence):
            reset(
                because: "its server holds another message than the stream leader at \(sequence) (a replica that diverged)",
                pause: .milliseconds(100))
        case .recheck:
            reset(because: "its first message is checked against the stream leader", counted: false)
        case .deliver(let caughtUp):
            handler(message, metadata)
            if caughtUp { onCaughtUp?() }
        }
    }

    /// An idle heartbeat names the last message the consumer sent: one
    /// this reader has not had was lost on the way (a gap that no later
    /// message would show while the bucket is quiet). And a reader still
    /// catching up asks the server whether anything is left, so being
    /// caught up never hangs on one message's pending count alone (a CI run
    /// once waited a minute for it).
    private func idleHeartbeat(_ message: NATSMessage, on deliverSubject: String) {
        guard let last = message.headers?["Nats-Last-Consumer"].flatMap({ UInt64($0) }) else { return }
        enum Verdict {
            case nothing
            case gap
            case firstNotSent(UInt64)
            case probe(after: UInt64)
            case check(consumer: String, delivered: UInt64)
        }
        let verdict = state.withLock { state -> Verdict in
            guard state.deliverSubject == deliverSubject, !state.resetting, !state.stopped else { return .nothing }
            if last >= state.expectedConsumerSequence { return .gap }
            // Quiet, with the leader's first message not sent: its server
            // does not hold it (taken for caught up, it stalled for good).
            if case .first(let expected, _) = state.startCheck { return .firstNotSent(expected) }
            if let interval = leaderProbeInterval, state.caughtUp, state.probe.due(at: .now(), every: interval) {
                return .probe(after: state.lastRevision)
            }
            guard !state.caughtUp, let consumer = state.consumer else { return .nothing }
            return .check(consumer: consumer, delivered: state.expectedConsumerSequence - 1)
        }
        switch verdict {
        case .nothing:
            return
        case .gap:
            reset(because: "messages up to \(last) sent but not received")
        case .firstNotSent(let expected):
            reset(
                because: "its server sent nothing where the stream leader holds \(expected) (a server behind the leader)",
                pause: .milliseconds(100))
        case .probe(let after):
            Task { [self] in await probeLeader(after: after) }
        case .check(let consumer, let delivered):
            Task { [self] in
                guard let info = try? await jetStream.consumerInfo(stream, consumer),
                    info.numPending == 0, info.delivered.consumerSequence == delivered
                else { return }
                let caughtUpNow = state.withLock { state -> Bool in
                    guard !state.caughtUp, state.consumer == consumer, state.expectedConsumerSequence - 1 == delivered else { return false }
                    state.caughtUp = true
                    return true
                }
                if caughtUpNow { onCaughtUp?() }
            }
        }
    }

    /// Asks the leader for its first message past `after` (`OrderedReaderLeaderProbe`).
    private func probeLeader(after: UInt64) async {
        let next: UInt64?
        do {
            next = try await jetStream.getMessage(stream, .next(subject: filter, from: after + 1), timeout: createTimeout)?.sequence
        } catch {
            state.withLock { $0.probe.unanswered() }
            return
        }
        let missing = state.withLock { state in state.probe.answered(leaderNext: next, handedOver: state.lastRevision) }
        if missing, let next {
            reset(
                because: "the stream leader holds \(next), which its server has not sent (a server behind the leader)",
                pause: .milliseconds(100))
        }
    }

    private func watchdog() {
        let silent = state.withLock { state -> Bool in
            guard !state.stopped, !state.resetting else { return false }
            return NIODeadline.now() - state.lastActivity > .nanoseconds(3 * heartbeat.nanoseconds)
        }
        if silent { reset(because: "no heartbeat") }
    }

    /// Makes the consumer again after the last revision seen; after
    /// `pause` if given (a server catching up needs a moment).
    /// `counted`: false for the planned re-make of `StartCheck.unknown`,
    /// which is neither a problem nor a reset the caller should see.
    private func reset(because reason: String, pause: Duration? = nil, counted: Bool = true) {
        let old = state.withLock { state -> String?? in
            guard !state.stopped else { return .none }
            guard !state.resetting else {
                // Asked by a consumer whose create has not returned yet.
                if state.pendingReset == nil { state.pendingReset = (reason, pause) }
                return .none
            }
            state.resetting = true
            // What the old consumer still sends is not taken: the next one
            // resumes after the last message handed over.
            state.deliverSubject = ""
            if counted { state.resets += 1 }
            defer { state.consumer = nil }
            return .some(state.consumer)
        }
        guard case .some(let oldConsumer) = old else { return }
        if counted {
            onProblem?("\(label): \(reason); following again from sequence \(state.withLock { $0.lastRevision + 1 })")
        }
        Task {
            if let pause { try? await Task.sleep(for: pause) }
            await makeUntilMade()
            // Deleted after, when it can be: on a dead server it is gone
            // anyway, and waiting for that answer first cost a timeout.
            if let oldConsumer { try? await jetStream.deleteConsumer(stream, oldConsumer) }
        }
    }

    /// Makes the consumer, trying again until it exists or `stop()` is
    /// called: at once after an unanswered create (it already waited), a
    /// second after a refusal (a meta leader election takes seconds; the
    /// watchdog's three heartbeats would add to every failed try).
    private func makeUntilMade() async {
        var tries = 0
        while !state.withLock({ $0.stopped }) {
            do {
                try await makeConsumer(timeout: createTimeout * min(1 + tries / 3, 4))
                break
            } catch {
                onProblem?("\(label): \(error)")
                // An unanswered create may still be carried out (where it
                // went comes back): it is deleted, or it ends by itself
                // after `inactiveThreshold` with nobody reading.
                if let attempt = state.withLock({ $0.consumer }) {
                    Task { try? await jetStream.deleteConsumer(stream, attempt) }
                }
                tries += 1
                if case .timeout = error { continue }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        let (lateConsumer, pending) = state.withLock { state -> (String?, (reason: String, pause: Duration?)?) in
            state.resetting = false
            state.lastActivity = .now()
            let pending = state.pendingReset
            state.pendingReset = nil
            // Made while `stop()` ran: not left behind.
            return state.stopped ? (state.consumer, nil) : (nil, pending)
        }
        if let lateConsumer {
            state.withLock { $0.subscription }?.unsubscribe()
            try? await jetStream.deleteConsumer(stream, lateConsumer)
        }
        // Without waiting for three heartbeats to show it.
        if let pending { reset(because: pending.reason, pause: pending.pause) }
    }
}

extension JetStreamOrderedConsumer {
    /// What a reader does with a message its consumer pushed.
    enum Verdict: Equatable {
        case deliver(caughtUp: Bool)
        case gap
        case stale
        case behindLeader(expected: UInt64)
        case divergent(at: UInt64)
        case recheck
    }
}

extension JetStreamOrderedConsumer.State {
    /// Whether the message `metadata` describes, pushed to `deliverSubject`,
    /// is handed over, and what the reader then knows. Pure: the reader's
    /// whole decision, tested without a server (`OrderedReaderJudgeTests`).
    mutating func judge(
        _ metadata: JetStreamMessageMetadata, on deliverSubject: String, checksStart: Bool
    ) -> JetStreamOrderedConsumer.Verdict {
        // Only the subject says which consumer a message is from: the new
        // one starts pushing before its create call returns (so before a
        // reset ends), and dropping those would lose them for good.
        guard self.deliverSubject == deliverSubject else { return .stale }
        guard metadata.consumerSequence == expectedConsumerSequence else {
            // Nothing more from this consumer: its numbering is no guide
            // now. A server restarted under it brings an R1 memory consumer
            // back with its state gone, counting from 1 again; the chaos run
            // saw such a consumer's message reach the expected number and be
            // taken, 700 entries past the last one read.
            self.deliverSubject = ""
            return .gap
        }
        // The leader vouched for this one (the consumer's first).
        var vouched = false
        switch startCheck {
        case .none:
            break
        case .first(let expected, let time):
            startCheck = .none
            // Not handed over: the next consumer starts before it.
            if metadata.streamSequence > expected {
                self.deliverSubject = ""
                return .behindLeader(expected: expected)
            }
            if metadata.streamSequence == expected {
                guard metadata.timestamp == time else {
                    self.deliverSubject = ""
                    return .divergent(at: expected)
                }
                vouched = true
            }
        case .unknown:
            // The chaos run saw a consumer made while the leader held
            // nothing start past a burst stored just then.
            startCheck = .none
            self.deliverSubject = ""
            return .recheck
        }
        // A checked reader's messages are stored in time order. One stored
        // before the last one handed over is not the leader's: nats-server
        // 2.9.10, restarted after a kill -9, can append messages its Raft
        // log replays again past its last one, under new sequences, and an
        // R1 consumer on that server hands them over (the chaos run
        // delivered a subscriber hundreds of old messages, some of them
        // another session's, from such a replica). Not handed over: the
        // next consumer is checked against the leader again. Servers'
        // clocks may differ by a little, so after a new leader a message
        // may be stored a moment "before" the last: that costs a reset,
        // after which the leader vouches for it.
        if checksStart, !vouched, let last = lastTimestamp, metadata.timestamp < last {
            self.deliverSubject = ""
            return .divergent(at: metadata.streamSequence)
        }
        if checksStart { lastTimestamp = metadata.timestamp }
        expectedConsumerSequence += 1
        lastRevision = metadata.streamSequence
        lastPending = metadata.pending
        let nowCaughtUp = !caughtUp && metadata.pending == 0
        if nowCaughtUp { caughtUp = true }
        return .deliver(caughtUp: nowCaughtUp)
    }
}
