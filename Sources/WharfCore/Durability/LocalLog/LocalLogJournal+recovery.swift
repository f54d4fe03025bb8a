import NIOCore
import WharfMQTT
import WharfStorage

extension LocalLogJournal {
    /// Walks what the log says is live (`DurableState`, recovered by `open`)
    /// and hands it to the broker's restore methods. Stored times are Unix
    /// times, converted to the monotonic clock once here; a finite session
    /// expiry ends at the deadline stored when its client went away (now, if
    /// that has passed: the first timer tick ends it).
    public func recover(into broker: Broker) -> Broker.Restored {
        storage.withRecoveredState { state in Self.recover(state, into: broker, journal: self) }
    }

    private static func recover(_ state: DurableState, into broker: Broker, journal: LocalLogJournal) -> Broker.Restored {
        var restored = Broker.Restored()
        let clock = WallClock.now()
        let now = clock.now
        // One Message per stored message, shared by the queues holding it;
        // only messages held more than once need remembering.
        var shared: [UInt64: Message] = [:]
        func message(_ id: UInt64) -> Message? {
            if let known = shared[id] { return known }
            guard let info = state.messages[id], let body = state.body(for: info) else { return nil }
            // Payloads stay slices of the segment they were read from: no
            // copy per message (the segment's memory goes once its messages
            // are delivered; a checkpoint keeps the log mostly live).
            let made = broker.recovered(
                Message(
                    topic: body.topic, payload: body.payload, qos: QoS(rawValue: body.qos) ?? .atLeastOnce,
                    retain: body.retain, publishedAtNanos: clock.monotonic(body.publishedAt),
                    expiresAtNanos: body.expiresAt == 0 ? nil : clock.monotonic(body.expiresAt),
                    forwardedProperties: body.properties, forwardsExpiry: body.forwardsExpiry, journalId: id
                ))
            if info.references > 1 { shared[id] = made }
            return made
        }

        var groupsById: [UInt64: ConsumerGroup] = [:]
        for (id, queue) in state.queues.sorted(by: { $0.key < $1.key }) {
            guard case .group(let name, let filter) = queue.kind else { continue }
            groupsById[id] = broker.restoreGroup(queue: JournalQueue(id: id), name: name, filter: filter)
            restored.groups += 1
        }
        for (id, queue) in state.queues.sorted(by: { $0.key < $1.key }) {
            guard case .session(let clientId, let expiry) = queue.kind else { continue }
            var items: [Session.Restoring] = []
            items.reserveCapacity(queue.entries.count)
            for (messageId, entry) in queue.queuedInOrder {
                guard let message = message(messageId) else { continue }
                if message.isExpired(at: now) {
                    restored.expired += 1
                    continue
                }
                let ids = entry.entry.subscriptionIds
                items.append(
                    Session.Restoring(
                        message: message, qos: QoS(rawValue: entry.entry.qos) ?? .atLeastOnce, retain: entry.entry.retain,
                        onSubscribe: entry.entry.onSubscribe,
                        subscriptionIds: ids.isEmpty ? .none : ids.count == 1 ? .one(ids[0]) : .many(ids),
                        attempts: Int(entry.entry.attempts), packetId: entry.packetId, released: entry.released
                    ))
            }
            broker.restoreSession(
                queue: JournalQueue(id: id), clientId: clientId, expiryInterval: expiry,
                offlineDeadline: queue.expiresAt != 0 ? clock.monotonic(queue.expiresAt) : nil,
                subscriptions: queue.subscriptions.map {
                    (SubscribePacket.Subscription(filter: $0.key, storedOptions: $0.value.options), identifier: $0.value.identifier)
                },
                inboundAwaitingRelease: queue.inbound, queued: items
            )
            restored.queuedMessages += items.count
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
                broker.restoreQueued(message, to: group)
                restored.queuedMessages += 1
            }
        }
        for (_, id) in state.retained {
            guard let message = message(id), !message.isExpired(at: now) else { continue }
            broker.restoreRetained(message)
            restored.retained += 1
        }
        var endedWills: [String] = []
        for (clientId, will) in state.wills {
            guard let message = message(will.message) else { continue }
            if broker.restoreWill(message, clientId: clientId, due: clock.monotonic(will.deadline)) {
                restored.wills += 1
            } else {
                endedWills.append(clientId)
            }
        }
        if !endedWills.isEmpty {
            let writer = journal.makeWriter()
            for clientId in endedWills { writer.willEnded(clientId: clientId) }
            writer.commit(whenDurable: nil)
        }
        for (key, seenAt) in state.dedup.sorted(by: { $0.value < $1.value }) {  // arrival order, as the window expects
            let parts = key.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let age = clock.wallNow > seenAt ? clock.wallNow - seenAt : 0
            broker.restoreDeduplicationId(topic: String(parts[0]), id: String(parts[1]), age: age)
        }
        return restored
    }
}
