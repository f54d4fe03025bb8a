import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Persistent sessions' queues in `WHARF_Q` (`SessionInbox`): appended to
/// by whichever node a message is published on, read by the node that
/// delivers the session, purged as the session acknowledges.
extension ClusterNode {
    public func append(
        _ message: Message, delivery: InboxDelivery, to inbox: RemoteInbox, exchange: InboundExchange?, journal: any JournalWriter
    ) {
        appendToInbox(message, delivery: delivery, clientId: inbox.clientId, exchange: exchange, journal: journal)
    }

    /// Appends `message` to `clientId`'s queue, pipelined and retried
    /// through elections like a forward; the commit of `journal` (the
    /// publisher's PUBACK) waits for it. A full queue refuses the message:
    /// counted `queue_full` and not retried, and the publisher is still
    /// acknowledged, as a full offline queue on one node drops the newest.
    /// `exchange`: an inbound QoS 2 exchange's message, stored once however
    /// many nodes append it (one `Nats-Msg-Id` per queue).
    public func appendToInbox(
        _ message: Message, delivery: InboxDelivery, clientId: String, exchange: InboundExchange? = nil, journal: any JournalWriter
    ) {
        appendQueued(
            SessionInbox.subject(for: clientId), ClusterEnvelope.encode(message), headers: SessionInbox.headers(delivery),
            messageId: exchange.map { ClusterNames.exchangeMessageId($0, to: "q." + ClusterNames.key(for: clientId)) } ?? newMessageId(),
            journal: journal)
    }

    /// Appends to a queue in the cluster (a session's, a group's) like a
    /// forward: the commit of `journal` waits for it. A full queue refuses
    /// the message: counted `queue_full`, not retried, and the publisher
    /// is still acknowledged.
    func appendQueued(
        _ subject: String, _ payload: ByteBuffer, headers: NATSHeaders? = nil, messageId: String, journal: any JournalWriter
    ) {
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        appendQueued(subject, payload, headers: headers, messageId: messageId, gate: gate)
    }

    /// The same with the commit's gate already taken (`add`ed) for it;
    /// `then` hears where it was stored (nil: it was not).
    func appendQueued(
        _ subject: String, _ payload: ByteBuffer, headers: NATSHeaders? = nil, messageId: String, gate: ClusterCommitGate?,
        then: (@Sendable (_ sequence: UInt64?) -> Void)? = nil
    ) {
        statistics.withLock { $0.forwardsPending += 1 }
        let deadline = ContinuousClock.now + options.forwardDeadline
        store(
            subject, payload, headers: headers, messageId: messageId, deadline: deadline,
            refusal: { [self] error in
                guard Self.isQueueFull(error) else { return false }
                state.withLock { $0.broker }?.metrics.messageDropped(.queueFull, count: 1)
                return true
            },
            sequence: then
        ) { [self] ok in
            statistics.withLock { statistics in
                statistics.forwardsPending -= 1
                if !ok { statistics.forwardFailures += 1 }
            }
            gate?.finished(ok: ok)
        }
    }

    /// 10077 with the per-subject limit's text: the session's queue is at
    /// `max_queued_messages` (`discard_new_per_subject`). Other store
    /// failures share the code (a full disk, the stream's byte quota).
    static func isQueueFull(_ error: JetStreamError) -> Bool {
        guard let api = error.apiError, api.errorCode == .streamStoreFailed else { return false }
        return api.text.contains("maximum messages per subject exceeded")
    }

    /// How often a quiet reader (a session's queue, this node's forwards)
    /// asks the stream leader whether it missed anything
    /// (`OrderedReaderLeaderProbe`): at 10,000 idle sessions on a node,
    /// 2,000 leader reads a second, each a lookup in the subject's index.
    static let readerProbeInterval = Duration.seconds(5)

    /// Follows `clientId`'s queue from its oldest message (everything there
    /// is unacknowledged), then as messages arrive: `deliver` gets each with
    /// its stream sequence, when it was stored (Unix nanoseconds; nil if
    /// the server sent no usable time) and its `Nats-Msg-Id`'s fingerprint
    /// (`ReplayedEntryFilter.fingerprint`), on the connection's loop. An entry
    /// this node cannot read is counted (`bad_inbox_entry`) and skipped. The
    /// caller runs the reader and stops it when it stops delivering the
    /// session.
    func inboxReader(
        for clientId: String,
        deliver: @escaping @Sendable (_ sequence: UInt64, _ stored: Int64?, _ id: UInt32, Message, InboxDelivery) -> Void
    ) -> JetStreamOrderedConsumer {
        JetStreamOrderedConsumer(
            jetStream: jetStream, stream: SessionInbox.stream, filter: SessionInbox.subject(for: clientId), start: .all,
            label: "queue of \(clientId)", heartbeat: .seconds(1), checksStartWithLeader: true,
            leaderProbeInterval: Self.readerProbeInterval,
            onProblem: { [self] problem in noteProblem(problem) }
        ) { [self] message, metadata in
            // Not journaled here: the queue in the cluster is the durable copy.
            guard let delivery = SessionInbox.delivery(in: message.headers), let decoded = ClusterEnvelope.decode(message.payload)
            else {
                statistics.withLock { $0.errors["bad_inbox_entry", default: 0] += 1 }
                return
            }
            let id = ReplayedEntryFilter.fingerprint(message.headers?["Nats-Msg-Id"])
            deliver(metadata.streamSequence, metadata.timestamp.nanosecondsSinceEpoch, id, decoded, delivery)
        }
    }

    /// Deletes these entries of session queues, pipelined. Returns the
    /// ones whose delete failed (each counted), oldest first, with the
    /// first failure, to try again. One delete per entry, never a purge:
    /// nats-server 2.9.10 replays a purge from its Raft log after a restart
    /// as a purge of every subject below the stream's last sequence at the
    /// time (nats-server#4196, fixed in 2.9.18), and a chaos run lost each
    /// session's unacknowledged messages below that point on every
    /// restarted replica. A delete replays as the one message it names.
    func deleteInboxEntries(_ sequences: [UInt64]) async -> (failed: [UInt64], error: JetStreamError?) {
        guard !sequences.isEmpty else { return ([], nil) }
        return await withTaskGroup(of: (UInt64, JetStreamError)?.self) { group in
            for sequence in sequences {
                group.addTask { [self] in
                    do throws(JetStreamError) {
                        try await jetStream.deleteMessage(SessionInbox.stream, sequence: sequence)
                        return nil
                    } catch {
                        count(error: error)
                        return (sequence, error)
                    }
                }
            }
            var failed: [(UInt64, JetStreamError)] = []
            for await result in group { if let result { failed.append(result) } }
            failed.sort { $0.0 < $1.0 }
            return (failed.map(\.0), failed.first?.1)
        }
    }

    /// Deletes everything in `clientId`'s queue (the session ended, or
    /// starts clean): its entries are found one after another through the
    /// stream leader, up to the last one there when this began, and
    /// deleted in pipelined rounds. Returns how many went; throws when the
    /// queue could not be read, or an entry not deleted.
    @discardableResult
    func clearInbox(of clientId: String) async throws(JetStreamError) -> Int {
        let subject = SessionInbox.subject(for: clientId)
        guard let last = try await jetStream.getMessage(SessionInbox.stream, .last(subject: subject)) else { return 0 }
        logger.debug("emptying a session's queue", metadata: ["client": "\(clientId)", "through": "\(last.sequence)"])
        var from: UInt64 = 1
        var round: [UInt64] = []
        var deleted = 0
        while from <= last.sequence {
            guard let next = try await jetStream.getMessage(SessionInbox.stream, .next(subject: subject, from: from)),
                next.sequence <= last.sequence
            else { break }
            round.append(next.sequence)
            from = next.sequence + 1
            if round.count == Self.deletesPerRound {
                if let error = await deleteInboxEntries(round).error { throw error }
                deleted += round.count
                round.removeAll(keepingCapacity: true)
            }
        }
        if let error = await deleteInboxEntries(round).error { throw error }
        return deleted + round.count
    }

    /// Deletes per session and round at most, and rounds in flight per
    /// session at once: bound the requests one session has in flight
    /// (2,048). Across two nodes (`wharf bench --scenario durable-qos1`,
    /// release build), one round of 256 at a time kept up with about 4,300
    /// acknowledgements a second, and the queue's limit, which counts what
    /// is acknowledged but not deleted yet, refused over half the messages;
    /// four rounds: 5,400 to 6,300 a second, 9 to 11 % refused; eight: 6,000
    /// to 6,700, 2 to 6 % refused.
    static let deletesPerRound = 256
    static let deleteRoundsInFlight = 8

    /// Messages in `clientId`'s queue now.
    func inboxDepth(of clientId: String) async throws(JetStreamError) -> UInt64 {
        let subject = SessionInbox.subject(for: clientId)
        let info = try await jetStream.streamInfo(SessionInbox.stream, subjectsFilter: subject)
        return info.state.subjects?[subject] ?? 0
    }
}

/// The reader of one session's queue while a connection here delivers it,
/// and the rounds of deletes of what it acknowledged on their way (the
/// first entry of each).
struct InboxFollower {
    let session: Session
    let reader: JetStreamOrderedConsumer
    var deleteRounds: [UInt64] = []
    /// When the record may forget the completed QoS 2 deliveries below
    /// what was deleted.
    var forgetCheck = CompletedForgetCheck()

    /// Below where the record may forget completed QoS 2 deliveries: not
    /// past an entry whose delete is still on its way (a node that died
    /// before it landed leaves the entry for the next node to read, and
    /// only the record's `completed` then keeps it from going out again).
    func forgetLimit(_ floor: UInt64, failed: [UInt64]) -> UInt64 {
        Self.forgetLimit(floor, failed: failed, inFlight: deleteRounds)
    }

    static func forgetLimit(_ floor: UInt64, failed: [UInt64], inFlight: [UInt64]) -> UInt64 {
        min(floor, failed.first ?? .max, inFlight.min() ?? .max)
    }
}

extension ClusterNode {
    // MARK: Delivering a session from its queue

    /// A connection here delivers `session` (claimed, routed by the
    /// cluster): its queue is read into it from the oldest message, skipping
    /// what this copy of the session already took (it was delivered here
    /// before, and what it holds is still in the queue). A reader already
    /// following this copy goes on.
    func startFollowing(_ clientId: String, session: Session) {
        let found = state.withLock { state -> (Broker, ReplayedEntryGuard)? in
            guard state.followers[clientId]?.session !== session, let broker = state.broker else { return nil }
            return (broker, state.claimed[clientId]?.replayed ?? ReplayedEntryGuard(nil))
        }
        guard let (broker, replayed) = found else { return }
        let logger = logger
        logger.debug(
            "reading the session's queue",
            metadata: [
                "client": "\(clientId)", "after": "\(session.lastInboxSequence)", "queued": "\(session.queuedCount)",
                "inflight": "\(session.inflightCount)",
            ])
        let reader = inboxReader(for: clientId) { [self] sequence, stored, id, message, delivery in
            logger.trace("queue entry read", metadata: ["client": "\(clientId)", "sequence": "\(sequence)"])
            guard sequence > session.lastInboxSequence else { return }
            // A copy a restarted server stored again (`ReplayedEntryFilter`):
            // its original was handed over already, or is still to come.
            switch stored.map({ replayed.judge(sequence: sequence, time: $0, id: id) }) ?? .handOver {
            case .handOver:
                break
            case .copy:
                logger.warning(
                    "queue entry is a copy a restarted NATS server stored again: skipped",
                    metadata: ["client": "\(clientId)", "sequence": "\(sequence)", "stored": "\(stored ?? 0)"])
                statistics.withLock { $0.errors["replayed_queue_entry", default: 0] += 1 }
                broker.deliverFromInbox(message, delivery: delivery, sequence: sequence, to: session, matched: false)
                return
            case .renumbered(let from):
                // Counted, so a chaos run's duplicates can be told from its
                // copies: the stream now numbers it lower than when it went out.
                logger.warning(
                    "queue entry handed over before at a later place: handed over again",
                    metadata: ["client": "\(clientId)", "sequence": "\(sequence)", "before": "\(from)"])
                statistics.withLock { $0.errors["renumbered_queue_entry", default: 0] += 1 }
            }
            // Past PUBREC on another connection: in flight here as a PUBREL.
            if session.holdsInboxSequence(sequence) {
                logger.debug("queue entry in flight already", metadata: ["client": "\(clientId)", "sequence": "\(sequence)"])
                broker.deliverFromInbox(message, delivery: delivery, sequence: sequence, to: session, matched: false)
                return
            }
            // A subscription gone since the message was appended (the
            // publishing node had not read the record yet) gets nothing.
            guard session.hasPlainSubscription(matching: message.topic) else {
                logger.debug("queue entry of no subscription", metadata: ["client": "\(clientId)", "sequence": "\(sequence)"])
                broker.deliverFromInbox(message, delivery: delivery, sequence: sequence, to: session, matched: false)
                return
            }
            if let result = broker.deliverFromInbox(message, delivery: delivery, sequence: sequence, to: session), !result.isAccepted {
                logger.debug(
                    "queue entry not taken", metadata: ["client": "\(clientId)", "sequence": "\(sequence)", "outcome": "\(result.outcome)"])
            }
        }
        session.clearClusterBacklog()
        let old = state.withLock { state -> JetStreamOrderedConsumer? in
            let old = state.followers[clientId]?.reader
            state.followers[clientId] = InboxFollower(session: session, reader: reader)
            return old
        }
        Task {
            await old?.stop()
            await reader.run()
        }
    }

    /// The connection that delivered `clientId` here ended: its reader
    /// stops, and the entries it acknowledged are deleted from the queue,
    /// or all of the queue when the session ended with the connection
    /// (`ended`).
    func stopFollowing(_ clientId: String, sessionEnded ended: Bool) async {
        let follower = state.withLock { $0.followers.removeValue(forKey: clientId) }
        await follower?.reader.stop()
        if ended {
            do {
                try await clearInbox(of: clientId)
            } catch {
                count(error: error)
            }
            return
        }
        guard let session = follower?.session else { return }
        // Bounded: the list holds what was read, at most a queue's worth.
        while let (sequences, floor) = session.takeDeletableInboxEntries(limit: Self.deletesPerRound), !sequences.isEmpty {
            logger.debug(
                "deleting acknowledged queue entries as the connection ended",
                metadata: [
                    "client": "\(clientId)", "count": "\(sequences.count)", "below": "\(floor)", "queued": "\(session.queuedCount)",
                    "inflight": "\(session.inflightCount)", "online": "\(session.isOnline)",
                ])
            let failed = await deleteInboxEntries(sequences).failed
            session.returnDeletableInboxEntries(failed)
            if !failed.isEmpty { return }
        }
        // The record keeps the completed QoS 2 deliveries of these rounds:
        // a delete answered now is confirmed only later
        // (`CompletedForgetCheck`), by the node that goes on with the
        // session, which forgets them then.
    }

    func stopFollowers() async {
        let clientIds = state.withLock { Array($0.followers.keys) }
        for clientId in clientIds { await stopFollowing(clientId, sessionEnded: false) }
    }

    /// Deletes from each followed queue what its session acknowledged (run
    /// every 20 ms): a round of up to `deletesPerRound` entries per session
    /// while fewer than `deleteRoundsInFlight` are on their way, and
    /// nothing while nothing changed. Short,
    /// because the queue's limit counts what is acknowledged but not
    /// deleted yet: at 100 ms, a consumer keeping up at 10,000 messages a
    /// second had its queue refuse messages (measured with `wharf bench
    /// --scenario durable-qos1` across two nodes: 60 % refused at 100 ms, 3
    /// to 8 % at 20 ms).
    func deleteAcknowledged() {
        let now = ContinuousClock.now
        let (due, checks) = state.withLock { state -> ([(String, Session, [UInt64], UInt64)], [(String, Session, UInt64, UInt64)]) in
            var due: [(String, Session, [UInt64], UInt64)] = []
            var checks: [(String, Session, UInt64, UInt64)] = []
            for (clientId, var follower) in state.followers {
                var changed = false
                if let question = follower.forgetCheck.due(now: now) {
                    checks.append((clientId, follower.session, question.from, question.below))
                    changed = true
                }
                if follower.deleteRounds.count < Self.deleteRoundsInFlight,
                    let (sequences, floor) = follower.session.takeDeletableInboxEntries(limit: Self.deletesPerRound),
                    !sequences.isEmpty
                {
                    follower.deleteRounds.append(sequences[0])
                    due.append((clientId, follower.session, sequences, floor))
                    changed = true
                }
                // Written back only when changed: most followers are quiet most ticks.
                if changed { state.followers[clientId] = follower }
            }
            return (due, checks)
        }
        for (clientId, session, from, below) in checks {
            Task { await checkForgetting(clientId, session: session, from: from, below: below) }
        }
        for (clientId, session, sequences, floor) in due {
            Task {
                logger.trace(
                    "deleting acknowledged queue entries",
                    metadata: ["client": "\(clientId)", "count": "\(sequences.count)", "below": "\(floor)"])
                let failed = await deleteInboxEntries(sequences).failed
                session.returnDeletableInboxEntries(failed)
                state.withLock { state in
                    // A session gone from here: its next node forgets (`stopFollowing`).
                    guard var follower = state.followers[clientId], follower.session === session else { return }
                    if let index = follower.deleteRounds.firstIndex(of: sequences[0]) { follower.deleteRounds.remove(at: index) }
                    follower.forgetCheck.deleted(
                        below: follower.forgetLimit(floor, failed: failed), now: .now, delay: Self.forgetCheckDelay)
                    state.followers[clientId] = follower
                }
            }
        }
    }

    /// How long after its deletes were answered the stream leader is asked
    /// whether it still holds them (`CompletedForgetCheck`): far longer than
    /// a server takes to write what it answered down, short enough that
    /// the record's list stays a few seconds of QoS 2 deliveries.
    static let forgetCheckDelay = Duration.seconds(2)

    /// Asks the stream leader for `clientId`'s first entry at or after
    /// `from`: the record forgets the completed QoS 2 deliveries below it
    /// (up to `below`), and what it still holds below `below`, acknowledged
    /// and deleted here already, is deleted again (at most a round of it).
    func checkForgetting(_ clientId: String, session: Session, from: UInt64, below: UInt64) async {
        let subject = SessionInbox.subject(for: clientId)
        let first: UInt64?
        do {
            first = try await jetStream.getMessage(SessionInbox.stream, .next(subject: subject, from: from))?.sequence
        } catch {
            count(error: error)
            state.withLock { state in
                guard state.followers[clientId]?.session === session else { return }
                state.followers[clientId]?.forgetCheck.unanswered(now: .now, delay: Self.forgetCheckDelay)
            }
            return
        }
        let outcome = state.withLock { state -> (forgetBelow: UInt64, deleteAgain: Range<UInt64>?)? in
            guard state.followers[clientId]?.session === session else { return nil }
            return state.followers[clientId]?.forgetCheck.answered(leaderFirst: first, now: .now, delay: Self.forgetCheckDelay)
        }
        guard let outcome else { return }
        if let again = outcome.deleteAgain {
            var sequences: [UInt64] = []
            var next = again.lowerBound
            while sequences.count < Self.deletesPerRound, next < again.upperBound,
                let entry = try? await jetStream.getMessage(SessionInbox.stream, .next(subject: subject, from: next)),
                entry.sequence < again.upperBound
            {
                sequences.append(entry.sequence)
                next = entry.sequence + 1
            }
            logger.warning(
                "deleted queue entries are back on the stream leader (a server lost their deletes): deleting them again",
                metadata: ["client": "\(clientId)", "count": "\(sequences.count)", "from": "\(again.lowerBound)"])
            statistics.withLock { $0.errors["undone_queue_delete", default: 0] += sequences.count }
            session.returnDeletableInboxEntries(sequences)
        }
        forgetCompleted(clientId, below: outcome.forgetBelow)
    }

    // MARK: Backlogs of offline sessions

    /// Reads what the queues of the offline sessions held here hold (run
    /// every 2 s): one stream info for all their counts, and the first
    /// entry of each non-empty one for its age. This node held them last,
    /// so it is the one node that reports them: summed over nodes, each
    /// queued message counts once. At most 1,000 sessions a round.
    func refreshOfflineBacklogs() {
        guard let broker = state.withLock({ $0.broker }) else { return }
        let sessions = broker.offlineClusterSessions.prefix(1_000)
        guard !sessions.isEmpty else { return }
        let started = statistics.withLock { statistics in
            guard !statistics.refreshingBacklogs else { return false }
            statistics.refreshingBacklogs = true
            return true
        }
        guard started else { return }
        Task {
            defer { statistics.withLock { $0.refreshingBacklogs = false } }
            let counts: [String: UInt64]
            do {
                counts = try await jetStream.streamInfo(SessionInbox.stream, subjectsFilter: SessionInbox.subjects).state.subjects ?? [:]
            } catch {
                count(error: error)
                return
            }
            for session in sessions {
                let subject = SessionInbox.subject(for: session.clientId)
                let count = Int(counts[subject] ?? 0)
                var oldest: UInt64?
                if count > 0, let first = try? await jetStream.directGet(SessionInbox.stream, .next(subject: subject, from: 1)) {
                    oldest = ClusterEnvelope.decode(first.payload)?.publishedAtNanos
                }
                session.setClusterBacklog(count: count, oldestNanos: oldest)
            }
        }
    }

    // MARK: Routes to the queues

    /// A session record as read or written (nil: deleted): its
    /// subscriptions become routes to its queue in the broker's tree, its
    /// shared ones keep their groups routed.
    func applyInboxRoutes(key: String, record: SessionRecord?, revision: UInt64) {
        guard let broker = state.withLock({ $0.broker }) else { return }
        inboxRoutes.withLock { table in
            for change in table.apply(key: key, record: record, revision: revision) {
                switch change {
                case .add(let inbox, let subscription, let identifier): broker.addInboxRoute(inbox, subscription, identifier: identifier)
                case .remove(let inbox, let filter): broker.removeInboxRoute(inbox, filter: filter)
                case .group(let share, let clientId, let present): setGroupRoute(share, holder: .session(clientId), present: present)
                }
            }
        }
    }
}
