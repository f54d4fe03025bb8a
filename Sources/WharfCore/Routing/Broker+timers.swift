import WharfMQTT

/// An offline session with a finite expiry interval, and when it ends.
struct ExpiringSession: Sendable {
    let session: Session
    let deadline: UInt64
}

/// A will waiting out its delay (5.0 will delay interval).
struct PendingWill: Sendable {
    let message: Message
    let due: UInt64
    let clientId: String
    /// The session it belongs to: a will outlives its connection, not its session.
    let session: ObjectIdentifier
}

/// Refused deliveries waiting out their backoff, earliest first.
struct RedeliverySchedule: Sendable {
    enum Work: Sendable {
        /// Back into a session's own queue (a plain subscription).
        case session(Session, OutboundQueue.Acknowledged)
        /// Back into a consumer group, preferably for another member.
        case group(ConsumerGroup, Message, refusedBy: ObjectIdentifier)
    }

    private(set) var entries: [(due: UInt64, work: Work)] = []

    var count: Int { entries.count }

    mutating func insert(_ work: Work, due: UInt64) {
        // Binary search for the slot: retries are few next to messages, and
        // a sorted array lets the tick take due ones from the front.
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].due <= due { low = mid + 1 } else { high = mid }
        }
        entries.insert((due, work), at: low)
    }

    mutating func takeDue(now: UInt64) -> [Work] {
        guard let first = entries.first, first.due <= now else { return [] }
        let end = entries.firstIndex { $0.due > now } ?? entries.count
        defer { entries.removeFirst(end) }
        return entries[..<end].map(\.work)
    }
}

extension Broker {
    /// Runs what has come due: refused messages whose backoff passed, wills
    /// whose delay passed, offline sessions whose expiry passed, and expired
    /// de-duplication ids. The server calls it on a short timer (and tests
    /// call it with a chosen `now`).
    public func runTimers(now: UInt64 = Clock.nowNanos()) {
        for work in redeliveries.withLock({ $0.takeDue(now: now) }) { redeliver(work) }

        let wills: [PendingWill] = pendingWills.withLock { wills in
            let due = wills.filter { $0.value.due <= now }
            for key in due.keys { wills.removeValue(forKey: key) }
            return Array(due.values)
        }
        for will in wills {
            journalAlone { $0.willEnded(clientId: will.clientId) }
            publishWill(will.message)
            clusterSessions?.sessionWillPublished(clientId: will.clientId)
        }

        let expired: [Session] = expiringSessions.withLock { expiring in
            let due = expiring.filter { $0.value.deadline <= now }
            for key in due.keys { expiring.removeValue(forKey: key) }
            return due.values.map(\.session)
        }
        for session in expired {
            endSession(session)
            clusterSessions?.sessionExpired(clientId: session.clientId)
        }

        deduplication.prune(now: now)
    }

    /// Holds a will back for `delaySeconds` (5.0 will delay interval), or
    /// until the session ends if that comes first. A reconnect to the
    /// session before then cancels it.
    public func scheduleWill(_ message: Message, for session: Session, delaySeconds: UInt32) {
        let delay = UInt64(min(delaySeconds, session.expiryInterval))
        let due = Clock.nowNanos() &+ delay * 1_000_000_000
        var stored = message
        if isJournaling, session.journalQueue != nil {
            // Journaled until it goes or is cancelled: a crash during the
            // delay must not lose it.
            stored = Message(
                topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                publishedAtNanos: message.publishedAtNanos, expiresAtNanos: message.expiresAtNanos,
                forwardedProperties: message.forwardedProperties, forwardsExpiry: message.forwardsExpiry,
                journalId: newJournalId(qos: .exactlyOnce, retain: false)
            )
            let deadline = WallClock.now().wallNow &+ delay * 1_000_000_000
            journalAlone { $0.willScheduled(stored, clientId: session.clientId, deadline: deadline) }
        }
        pendingWills.withLock {
            $0[ExactString(session.clientId)] = PendingWill(
                message: stored, due: due, clientId: session.clientId, session: ObjectIdentifier(session)
            )
        }
    }

    /// Publishes a will as a message from its client (counted as received).
    public func publishWill(_ message: Message) {
        publish(message)
        if recordsDetail {
            topicStatistics.record([.init(topic: message.topic, bytes: message.payload.readableBytes)], now: Clock.nowNanos())
        }
    }

    public var scheduledRedeliveryCount: Int { redeliveries.withLock { $0.count } }

    // MARK: Negative acknowledgements

    /// A consumer refused a delivery (5.0 PUBACK/PUBREC with a reason code
    /// of 0x80 or more). Out of delivery attempts, it is dead-lettered;
    /// otherwise it comes back after a backoff, through its group (to
    /// another member where there is one) or to the same session.
    public func rejected(_ done: OutboundQueue.Acknowledged, by session: Session, now: UInt64 = Clock.nowNanos()) {
        metrics.messageNacked()
        let message = done.message
        let attempts: Int
        let work: RedeliverySchedule.Work
        if let group = done.group {
            attempts = group.rejected(message, by: session)
            work = .group(group, message, refusedBy: ObjectIdentifier(session))
        } else {
            attempts = done.attempts
            work = .session(session, done)
        }
        if let group = done.group, let feed = group.feed {
            // Cluster mode: the cluster's queue brings it back after the
            // backoff, to a member on any node; attempts count across nodes.
            group.forget(message)
            if let limit = message.maxDeliveryAttempts, attempts >= limit {
                group.deadLettered([(message, attempts)])
            } else {
                feed.handedBack([message], afterNanos: delivery.backoffNanos(afterAttempts: attempts))
            }
            return
        }
        if let limit = message.maxDeliveryAttempts, attempts >= limit {
            if let group = done.group { group.forget(message) }
            deadLetter([(message, attempts)], from: done.group.map(\.journalQueue) ?? session.journalQueue)
            return
        }
        let due = now &+ delivery.backoffNanos(afterAttempts: attempts)
        redeliveries.withLock { $0.insert(work, due: due) }
    }

    private func redeliver(_ work: RedeliverySchedule.Work) {
        switch work {
        case .group(let group, let message, let refusedBy):
            group.redeliver(message, avoiding: refusedBy)
        case .session(let session, let done):
            if done.message.isExpired(at: Clock.nowNanos()) {
                metrics.messageDropped(.expired, count: 1)
                return
            }
            let result = session.enqueue(
                done.message, qos: done.qos, subscriptionIds: done.subscriptionIds, attempts: done.attempts,
                inboxSequence: done.inboxSequence
            )
            countDrops(result, offline: .rejected)
            // A policy's drop-oldest made room: the dropped message leaves the journal too.
            if result.outcome == .acceptedDroppedOldest, let queue = session.journalQueue, case let id = session.lastDroppedJournalId,
                id != 0
            {
                journalAlone { $0.removed(id, from: queue) }
            }
        }
    }
}
