import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Messages to other nodes, and from them.
extension ClusterNode {
    public func forward(_ message: Message, qos: QoS, to node: RemoteNode, exchange: InboundExchange?, journal: any JournalWriter) {
        statistics.withLock { $0.forwarded[Int(qos.rawValue)] += 1 }
        let exchangeKey = exchange?.key
        if qos == .atMostOnce {
            // At most once: core NATS, the envelope written straight into the
            // connection's batch.
            do {
                try connection.publish(node.quickAddress, payloadCount: ClusterEnvelope.encodedCount(message, exchange: exchangeKey)) {
                    ClusterEnvelope.encode(message, exchange: exchangeKey, into: &$0)
                }
            } catch {
                count(error: error)
            }
            return
        }
        let envelope = ClusterEnvelope.encode(message, exchange: exchangeKey)
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        statistics.withLock { $0.forwardsPending += 1 }
        let deadline = ContinuousClock.now + options.forwardDeadline
        let messageId = exchange.map { ClusterNames.exchangeMessageId($0, to: "n." + node.name) } ?? newMessageId()
        store(node.durableAddress, envelope, messageId: messageId, deadline: deadline) { [self] ok in
            statistics.withLock { statistics in
                statistics.forwardsPending -= 1
                if !ok { statistics.forwardFailures += 1 }
            }
            gate?.finished(ok: ok)
        }
    }

    /// Appends to a stream, trying again through a leader election or a
    /// reconnect (the same `Nats-Msg-Id` each time, so it is stored once)
    /// until `deadline`; `done` says whether it was stored. `refusal` may
    /// take a refusal as the outcome the writer expects (a full session
    /// queue): then `done(true)` without storing and without retries.
    /// `sequence`, before `done`, says where it was stored (nil: nowhere).
    func store(
        _ subject: String, _ payload: ByteBuffer, headers: NATSHeaders? = nil, messageId: String,
        deadline: ContinuousClock.Instant, attempt: Int = 1, refusal: (@Sendable (JetStreamError) -> Bool)? = nil,
        sequence: (@Sendable (UInt64?) -> Void)? = nil, done: @escaping @Sendable (Bool) -> Void
    ) {
        let started = Clock.nowNanos()
        jetStream.publish(subject, headers: headers, payload: payload, options: .init(messageId: messageId), timeout: .seconds(3)) {
            [self] result in
            switch result {
            case .success(let ack):
                logger.trace(
                    "stored",
                    metadata: [
                        "subject": "\(subject)", "id": "\(messageId)", "sequence": "\(ack.sequence)", "duplicate": "\(ack.duplicate)",
                        "attempt": "\(attempt)",
                    ])
                let now = Clock.nowNanos()
                statistics.withLock { $0.latency.record(since: started, now: now) }
                sequence?(ack.sequence)
                done(true)
            case .failure(let error):
                if let refusal, refusal(error) {
                    sequence?(nil)
                    done(true)
                    return
                }
                count(error: error)
                let retryable: Bool
                switch error {
                case .timeout, .noResponders, .connection: retryable = true
                default: retryable = false
                }
                let pause = Duration.milliseconds(min(1_000, 100 * attempt))
                guard retryable, ContinuousClock.now + pause < deadline, !isStopped else {
                    logger.warning("forward not stored", metadata: ["subject": "\(subject)", "error": "\(error)"])
                    sequence?(nil)
                    done(false)
                    return
                }
                logger.debug("store failed; trying again", metadata: ["id": "\(messageId)", "attempt": "\(attempt)", "error": "\(error)"])
                connection.eventLoop.scheduleTask(in: .nanoseconds(pause.nanosecondsValue)) {
                    self.store(
                        subject, payload, headers: headers, messageId: messageId, deadline: deadline, attempt: attempt + 1,
                        refusal: refusal, sequence: sequence, done: done)
                }
            }
        }
    }

    /// A unique `Nats-Msg-Id` for a write of this run of the node.
    func newMessageId() -> String { "\(bootId)-\(forwardNumber())" }

    /// Writes a KV entry (or a delete marker) the way forwards are stored:
    /// retried through an election with one message id, so once.
    func storeEntry(
        _ bucket: KeyValueBucket, key: String, _ value: ByteBuffer, delete: Bool, done: @escaping @Sendable (Bool) -> Void
    ) {
        var headers: NATSHeaders?
        if delete {
            var deleting = NATSHeaders()
            deleting.set("KV-Operation", "DEL")
            headers = deleting
        }
        store(
            "$KV.\(bucket.name).\(key)", value, headers: headers, messageId: newMessageId(),
            deadline: ContinuousClock.now + options.forwardDeadline, done: done)
    }

    private func forwardNumber() -> UInt64 {
        statistics.withLock { statistics in
            statistics.forwardSequence &+= 1
            return statistics.forwardSequence
        }
    }

    /// Reads what other nodes forward here: QoS 0 on a core subscription
    /// (from now on), QoS 1/2 from `WHARF_N` in order with the returned
    /// reader (made again after any loss, from where it stopped) once run.
    func openInbox() throws -> JetStreamOrderedConsumer {
        let quick = try connection.subscribe(ClusterNames.quickForwards(to: options.nodeName)) { [self] message in
            arrived(message.payload)
        }
        let inbox = JetStreamOrderedConsumer(
            jetStream: jetStream, stream: ClusterNames.forwardStream, filter: ClusterNames.durableForwards(to: options.nodeName),
            start: .new, label: "forwards to \(options.nodeName)",
            // A lost reader shows within three of these: forwards wait that long.
            heartbeat: .seconds(1), checksStartWithLeader: true, leaderProbeInterval: Self.readerProbeInterval,
            // From `.new`, so caught up as soon as it exists.
            onCaughtUp: { [self] in state.withLock { $0.readiness.inboxReady = true } },
            onProblem: { [self] problem in noteProblem(problem) }
        ) { [self] message, _ in arrived(message.payload) }
        state.withLock { state in
            state.quickInbox = quick
            state.inbox = inbox
        }
        return inbox
    }

    /// A message another node forwarded: to this node's subscribers,
    /// through the inbound flow control.
    private func arrived(_ envelope: ByteBuffer) {
        guard let broker = state.withLock({ $0.broker }) else { return }
        guard let (message, exchange) = ClusterEnvelope.decodeForward(envelope, journalId: broker.newJournalId) else {
            statistics.withLock { $0.errors["bad_envelope", default: 0] += 1 }
            return
        }
        statistics.withLock { $0.received += 1 }
        inbound.arrived(ClusterInbound.Forward(message: message, exchange: exchange))
    }

    /// Routes one message from another node; true when a subscriber's queue
    /// asks the other nodes' traffic to wait.
    func route(_ forward: ClusterInbound.Forward, from inbound: ClusterInbound) -> Bool {
        guard let broker = state.withLock({ $0.broker }) else { return false }
        // Forwards all arrive on the connection's loop: one route cache for them.
        var routes = statistics.withLock { $0.takeInboundRoutes() }
        let outcome = broker.publishFromCluster(forward.message, from: inbound, exchange: forward.exchange, routes: &routes)
        statistics.withLock { $0.inboundRoutes = routes }
        return outcome.pausePublisher
    }

    func noteProblem(_ problem: String) {
        state.withLock { $0.lastProblem = problem }
        logger.warning("cluster", metadata: ["problem": "\(problem)"])
    }
}

extension ClusterNode.Statistics {
    mutating func takeInboundRoutes() -> RouteCache {
        defer { inboundRoutes = RouteCache() }
        return inboundRoutes
    }
}

extension Duration {
    var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
