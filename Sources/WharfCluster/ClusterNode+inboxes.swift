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
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        statistics.withLock { $0.forwardsPending += 1 }
        let deadline = ContinuousClock.now + options.forwardDeadline
        store(
            SessionInbox.subject(for: clientId), ClusterEnvelope.encode(message), headers: SessionInbox.headers(delivery),
            messageId: exchange.map { ClusterNames.exchangeMessageId($0, to: "q." + ClusterNames.key(for: clientId)) } ?? newMessageId(),
            deadline: deadline,
            refusal: { [self] error in
                guard Self.isQueueFull(error) else { return false }
                state.withLock { $0.broker }?.metrics.messageDropped(.queueFull, count: 1)
                return true
            }
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

    /// Follows `clientId`'s queue from its oldest message (everything there
    /// is unacknowledged), then as messages arrive: `deliver` gets each with
    /// its stream sequence, on the connection's loop. An entry this node
    /// cannot read is counted (`bad_inbox_entry`) and skipped. The caller
    /// runs the reader and stops it when it stops delivering the session.
    func inboxReader(
        for clientId: String, deliver: @escaping @Sendable (_ sequence: UInt64, Message, InboxDelivery) -> Void
    ) -> JetStreamOrderedConsumer {
        JetStreamOrderedConsumer(
            jetStream: jetStream, stream: SessionInbox.stream, filter: SessionInbox.subject(for: clientId), start: .all,
            label: "queue of \(clientId)", heartbeat: .seconds(1), checksStartWithLeader: true,
            onProblem: { [self] problem in noteProblem(problem) }
        ) { [self] message, metadata in
            // Not journaled here: the queue in the cluster is the durable copy.
            guard let delivery = SessionInbox.delivery(in: message.headers), let decoded = ClusterEnvelope.decode(message.payload)
            else {
                statistics.withLock { $0.errors["bad_inbox_entry", default: 0] += 1 }
                return
            }
            deliver(metadata.streamSequence, decoded, delivery)
        }
    }

    /// Drops `clientId`'s queued messages below `sequence` (all of them
    /// without one): the ones it acknowledged, or that were dropped for it,
    /// or a session that ended. Returns how many went.
    @discardableResult
    func purgeInbox(of clientId: String, below sequence: UInt64? = nil) async throws(JetStreamError) -> UInt64 {
        // Nothing is below 1, and no request may say so: nats-server 2.9.10
        // reads a purge "below 1" as one without a sequence, and empties the
        // whole subject (a session's queue lost everything appended before
        // its reader's first entry arrived).
        if let sequence, sequence <= 1 { return 0 }
        logger.debug("purging a session's queue", metadata: ["client": "\(clientId)", "below": "\(sequence.map { "\($0)" } ?? "all")"])
        return try await jetStream.purgeStream(
            SessionInbox.stream, StreamPurgeRequest(filter: SessionInbox.subject(for: clientId), sequence: sequence))
    }

    /// Messages in `clientId`'s queue now.
    func inboxDepth(of clientId: String) async throws(JetStreamError) -> UInt64 {
        let subject = SessionInbox.subject(for: clientId)
        let info = try await jetStream.streamInfo(SessionInbox.stream, subjectsFilter: subject)
        return info.state.subjects?[subject] ?? 0
    }
}

/// The reader of one session's queue while a connection here delivers it,
/// and how far the queue was purged behind it.
struct InboxFollower {
    let session: Session
    let reader: JetStreamOrderedConsumer
    var purgedBelow: UInt64 = 0
    var purging = false
}

extension ClusterNode {
    // MARK: Delivering a session from its queue

    /// A connection here delivers `session` (claimed, routed by the
    /// cluster): its queue is read into it from the oldest message, skipping
    /// what this copy of the session already took (it was delivered here
    /// before, and what it holds is still in the queue). A reader already
    /// following this copy goes on.
    func startFollowing(_ clientId: String, session: Session) {
        let broker = state.withLock { state -> Broker? in
            guard state.followers[clientId]?.session !== session else { return nil }
            return state.broker
        }
        guard let broker else { return }
        let logger = logger
        logger.debug(
            "reading the session's queue",
            metadata: [
                "client": "\(clientId)", "after": "\(session.lastInboxSequence)", "queued": "\(session.queuedCount)",
                "inflight": "\(session.inflightCount)",
            ])
        let reader = inboxReader(for: clientId) { sequence, message, delivery in
            logger.trace("queue entry read", metadata: ["client": "\(clientId)", "sequence": "\(sequence)"])
            guard sequence > session.lastInboxSequence else { return }
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
    /// stops, and the queue is purged up to what was acknowledged, or all
    /// of it when the session ended with the connection (`ended`).
    func stopFollowing(_ clientId: String, sessionEnded ended: Bool) async {
        let follower = state.withLock { $0.followers.removeValue(forKey: clientId) }
        await follower?.reader.stop()
        do {
            if ended {
                try await purgeInbox(of: clientId)
            } else if let follower, let floor = follower.session.inboxFloor, floor > follower.purgedBelow {
                logger.debug(
                    "queue purged as the connection ended",
                    metadata: [
                        "client": "\(clientId)", "below": "\(floor)", "queued": "\(follower.session.queuedCount)",
                        "inflight": "\(follower.session.inflightCount)", "online": "\(follower.session.isOnline)",
                    ])
                try await purgeInbox(of: clientId, below: floor)
                forgetCompleted(clientId, below: floor)
            }
        } catch {
            count(error: error)
        }
    }

    func stopFollowers() async {
        let clientIds = state.withLock { Array($0.followers.keys) }
        for clientId in clientIds { await stopFollowing(clientId, sessionEnded: false) }
    }

    /// Purges each followed queue up to what its session acknowledged
    /// (run every 20 ms): one purge per session at a time, and none while
    /// nothing changed, so a session costs the cluster a purge per 20 ms of
    /// acknowledgements at most, not one per message. Short, because the
    /// queue's limit counts what is acknowledged but not purged yet: at
    /// 100 ms, a consumer keeping up at 10,000 messages a second had its
    /// queue refuse messages (measured with `wharf bench --scenario
    /// durable-qos1` across two nodes: 60 % refused at 100 ms, 3 to 8 % at 20 ms).
    func purgeAcknowledged() {
        let due = state.withLock { state -> [(String, UInt64)] in
            var due: [(String, UInt64)] = []
            for (clientId, follower) in state.followers where !follower.purging {
                guard let floor = follower.session.inboxFloor, floor > follower.purgedBelow else { continue }
                state.followers[clientId]?.purging = true
                due.append((clientId, floor))
            }
            return due
        }
        for (clientId, floor) in due {
            Task {
                var purged = false
                do {
                    try await purgeInbox(of: clientId, below: floor)
                    purged = true
                    forgetCompleted(clientId, below: floor)
                } catch {
                    count(error: error)
                }
                state.withLock { state in
                    state.followers[clientId]?.purging = false
                    if purged, let below = state.followers[clientId]?.purgedBelow, below < floor {
                        state.followers[clientId]?.purgedBelow = floor
                    }
                }
            }
        }
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
    /// subscriptions become routes to its queue in the broker's tree.
    func applyInboxRoutes(key: String, record: SessionRecord?, revision: UInt64) {
        guard let broker = state.withLock({ $0.broker }) else { return }
        inboxRoutes.withLock { table in
            for change in table.apply(key: key, record: record, revision: revision) {
                switch change {
                case .add(let inbox, let subscription, let identifier): broker.addInboxRoute(inbox, subscription, identifier: identifier)
                case .remove(let inbox, let filter): broker.removeInboxRoute(inbox, filter: filter)
                }
            }
        }
    }
}
