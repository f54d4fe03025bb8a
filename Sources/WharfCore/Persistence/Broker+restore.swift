import NIOCore
import WharfMQTT
import WharfStorage

extension Broker {
    /// What `restore` put back, for the log line and the metrics.
    public struct Restored: Sendable {
        public var sessions = 0
        public var groups = 0
        public var queuedMessages = 0
        public var retained = 0
        public var wills = 0
        /// Messages whose expiry passed while the broker was down.
        public var expired = 0
    }

    /// Rebuilds sessions, subscriptions, consumer groups, queues (with QoS 2
    /// packet ids), retained messages, delayed wills and de-duplication ids
    /// from the store's recovered state. Call once, before serving.
    /// Restored sessions are offline. A finite expiry ends at the deadline
    /// stored when the client went away (now, if that has passed: the
    /// first timer tick ends it), or counts from now for a session whose
    /// client was connected when the broker stopped.
    public func restore(from state: DurableState) -> Restored {
        var restored = Restored()
        let now = Clock.nowNanos()
        let clock = clockPair()
        // One Message per stored message, shared by the queues holding it;
        // only messages held more than once need remembering.
        var shared: [UInt64: Message] = [:]
        func message(_ id: UInt64) -> Message? {
            if let known = shared[id] { return known }
            guard let info = state.messages[id], let body = state.body(for: info) else { return nil }
            // Payloads stay slices of the segment they were read from: no
            // copy per message (the segment's memory goes once its messages
            // are delivered; a checkpoint keeps the log mostly live).
            let published = Message(
                topic: body.topic, payload: body.payload, qos: QoS(rawValue: body.qos) ?? .atLeastOnce,
                retain: body.retain, publishedAtNanos: monotonicNanos(body.publishedAt, now: now, wallNow: clock.wall),
                expiresAtNanos: body.expiresAt == 0 ? nil : monotonicNanos(body.expiresAt, now: now, wallNow: clock.wall),
                forwardedProperties: body.properties, forwardsExpiry: body.forwardsExpiry, storageId: id
            )
            let made = policies.isEmpty ? published : policies.policy(for: published.topic).map { published.applying($0) } ?? published
            if info.references > 1 { shared[id] = made }
            return made
        }

        // Groups first: sessions' shared subscriptions join them.
        var groupsById: [UInt64: ConsumerGroup] = [:]
        for (id, queue) in state.queues.sorted(by: { $0.key < $1.key }) {
            guard case .group(let name, let filter) = queue.kind else { continue }
            let group = ConsumerGroup(
                name: name, filter: filter, maxQueued: limits.maxQueuedMessages, storageQueue: id,
                deadLetter: { [weak self] in self?.deadLetter($0, from: id) },
                expired: { [weak self] in self?.metrics.messageDropped(.expired, count: $0) }
            )
            let key = SharedSubscription(group: name, filter: filter).key
            groups.withLock { $0[key] = group }
            tree.withLock { _ = $0.subscribe(RouteTarget(group: group, qos: .exactlyOnce), filter: filter) }
            groupsById[id] = group
            restored.groups += 1
        }
        for (id, queue) in state.queues.sorted(by: { $0.key < $1.key }) {
            guard case .session(let clientId, let expiry) = queue.kind else { continue }
            let session = Session(
                clientId: clientId, expiryInterval: expiry, maxInflight: limits.maxInflightMessages,
                maxQueued: limits.maxQueuedMessages, storageQueue: id
            )
            sessions.withLock { $0[ExactString(clientId)] = session }
            for (filter, stored) in queue.subscriptions {
                let request = SubscribePacket.Subscription(
                    filter: filter, qos: QoS(rawValue: stored.options & 3) ?? .atMostOnce, noLocal: stored.options & 4 != 0,
                    retainAsPublished: stored.options & 8 != 0, retainHandling: (stored.options >> 4) & 3
                )
                let identifiers = SubscriptionIdentifiers(stored.identifier == 0 ? nil : stored.identifier)
                if case .success(let shared)? = SharedSubscription.parse(filter) {
                    join(session, shared, qos: request.qos, identifiers: identifiers, as: filter)
                } else {
                    _ = tree.withLock {
                        $0.subscribe(RouteTarget(
                            session: session, qos: request.qos, noLocal: request.noLocal,
                            retainAsPublished: request.retainAsPublished, identifiers: identifiers
                        ), filter: filter)
                    }
                    session.recordSubscription(filter, qos: request.qos)
                }
            }
            session.restoreInbound(queue.inbound)
            var items: [Session.Restoring] = []
            items.reserveCapacity(queue.entries.count)
            for (messageId, entry) in queue.queuedInOrder {
                guard let message = message(messageId) else { continue }
                if message.isExpired(at: now) {
                    restored.expired += 1
                    continue
                }
                let ids = entry.entry.subscriptionIds
                items.append(Session.Restoring(
                    message: message, qos: QoS(rawValue: entry.entry.qos) ?? .atLeastOnce, retain: entry.entry.retain,
                    onSubscribe: entry.entry.onSubscribe,
                    subscriptionIds: ids.isEmpty ? .none : ids.count == 1 ? .one(ids[0]) : .many(ids),
                    attempts: Int(entry.entry.attempts), packetId: entry.packetId, released: entry.released
                ))
            }
            session.restore(items)
            restored.queuedMessages += items.count
            if expiry != UInt32.max {
                let deadline = queue.expiresAt != 0
                    ? monotonicNanos(queue.expiresAt, now: now, wallNow: clock.wall) : now &+ UInt64(expiry) * 1_000_000_000
                expiringSessions.withLock { $0[ObjectIdentifier(session)] = ExpiringSession(session: session, deadline: deadline) }
            }
            restored.sessions += 1
        }
        for (id, queue) in state.queues {
            guard let group = groupsById[id] else { continue }
            for messageId in queue.entries.keys.sorted() {
                guard let message = message(messageId) else { continue }
                if message.isExpired(at: now) {
                    restored.expired += 1
                    continue
                }
                _ = group.enqueue(message)
                restored.queuedMessages += 1
            }
        }
        for (_, id) in state.retained {
            guard let message = message(id), !message.isExpired(at: now) else { continue }
            retained.withLock { $0.update(with: message.retainedCopy()) }
            restored.retained += 1
        }
        for (clientId, will) in state.wills {
            guard let message = message(will.message) else { continue }
            let due = monotonicNanos(will.deadline, now: now, wallNow: clock.wall)
            let session = sessions.withLock { $0[ExactString(clientId)] }
            guard let session else {
                // Its session is gone: the will is due now (5.0 section 3.1.3.2.2).
                publishWill(message)
                record { $0.will(clientId: clientId, message: 0, deadline: 0) }
                continue
            }
            pendingWills.withLock {
                $0[ExactString(clientId)] = PendingWill(message: message, due: due, clientId: clientId, session: ObjectIdentifier(session))
            }
            restored.wills += 1
        }
        for (key, seenAt) in state.dedup.sorted(by: { $0.value < $1.value }) {  // arrival order, as the window expects
            let parts = key.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let seen = monotonicNanos(seenAt, now: now, wallNow: clock.wall)
            deduplication.restore(topic: String(parts[0]), id: String(parts[1]), seenAt: seen, now: now)
        }
        return restored
    }
}

extension Broker {
    /// Messages waiting in a client's session (0 when there is none).
    public func sessionQueuedCount(clientId: String) -> Int {
        sessions.withLock { $0[ExactString(clientId)] }?.queuedCount ?? 0
    }
}
