import WharfMQTT

/// How a journal puts its state back (`BrokerJournal.recover(into:)`), in
/// the broker's words: groups first (sessions' shared subscriptions join
/// them), then sessions with their subscriptions and queues, then what
/// groups held, retained messages, delayed wills and de-duplication ids.
/// Call before serving. Restored sessions are offline.
extension Broker {
    /// What a recovery put back, for the log line and the metrics.
    public struct Restored: Sendable {
        public var sessions = 0
        public var groups = 0
        public var queuedMessages = 0
        public var retained = 0
        public var wills = 0
        /// Messages whose expiry passed while the broker was down.
        public var expired = 0
        public init() {}
    }

    /// A recovered message as the broker routes it: the delivery policy of
    /// its topic applies again (policies may have changed across the restart).
    public func recovered(_ message: Message) -> Message {
        policies.isEmpty ? message : policies.policy(for: message.topic).map { message.applying($0) } ?? message
    }

    /// A consumer group the journal holds, with its subscription in the tree.
    public func restoreGroup(queue: JournalQueue, name: String, filter: String) -> ConsumerGroup {
        let group = makeGroup(name: name, filter: filter, queue: queue)
        groups.withLock { $0[SharedSubscription(group: name, filter: filter).key] = group }
        tree.withLock { _ = $0.subscribe(RouteTarget(group: group, qos: .exactlyOnce), filter: filter) }
        return group
    }

    /// A persistent session the journal holds. `offlineDeadline`: when a
    /// finite expiry ends (monotonic; the stored deadline of a client that
    /// had gone away, or nil to count the interval from now for one that was
    /// connected when the broker stopped). `queued`: its messages in queue
    /// order, those in flight under their packet ids.
    public func restoreSession(
        queue: JournalQueue, clientId: String, expiryInterval: UInt32, offlineDeadline: UInt64?,
        subscriptions: [(SubscribePacket.Subscription, identifier: UInt32)], inboundAwaitingRelease: Set<UInt16>,
        queued: [Session.Restoring]
    ) {
        let session = Session(
            clientId: clientId, expiryInterval: expiryInterval, maxInflight: limits.maxInflightMessages,
            maxQueued: limits.maxQueuedMessages, journalQueue: queue
        )
        sessions.withLock { $0[ExactString(clientId)] = session }
        for (request, identifier) in subscriptions {
            let identifiers = SubscriptionIdentifiers(identifier == 0 ? nil : identifier)
            if case .success(let shared)? = SharedSubscription.parse(request.filter) {
                join(session, shared, qos: request.qos, identifiers: identifiers, as: request.filter)
            } else {
                _ = tree.withLock {
                    $0.subscribe(
                        RouteTarget(
                            session: session, qos: request.qos, noLocal: request.noLocal,
                            retainAsPublished: request.retainAsPublished, identifiers: identifiers
                        ), filter: request.filter)
                }
                session.recordSubscription(request.filter, qos: request.qos)
            }
        }
        session.restoreInbound(inboundAwaitingRelease)
        session.restore(queued)
        if expiryInterval != UInt32.max {
            let deadline = offlineDeadline ?? Clock.nowNanos() &+ UInt64(expiryInterval) * 1_000_000_000
            expiringSessions.withLock { $0[ObjectIdentifier(session)] = ExpiringSession(session: session, deadline: deadline) }
        }
    }

    /// A message a group held, in queue order.
    public func restoreQueued(_ message: Message, to group: ConsumerGroup) {
        _ = group.enqueue(message)
    }

    public func restoreRetained(_ message: Message) {
        retained.withLock { $0.update(with: message.retainedCopy()) }
    }

    /// A delayed will, due at `due` (monotonic). Returns false when its
    /// session is gone: the will was due then, and has been published now
    /// (5.0 section 3.1.3.2.2); the journal must forget it.
    public func restoreWill(_ message: Message, clientId: String, due: UInt64) -> Bool {
        guard let session = sessions.withLock({ $0[ExactString(clientId)] }) else {
            publishWill(message)
            return false
        }
        pendingWills.withLock {
            $0[ExactString(clientId)] = PendingWill(message: message, due: due, clientId: clientId, session: ObjectIdentifier(session))
        }
        return true
    }

    /// A publisher de-duplication id seen `age` nanoseconds ago; give them
    /// in the order they arrived, as the window expects.
    public func restoreDeduplicationId(topic: String, id: String, age: UInt64) {
        deduplication.restore(topic: topic, id: id, age: age, now: Clock.nowNanos())
    }

    /// Messages waiting in a client's session (0 when there is none).
    public func sessionQueuedCount(clientId: String) -> Int {
        sessions.withLock { $0[ExactString(clientId)] }?.queuedCount ?? 0
    }
}
