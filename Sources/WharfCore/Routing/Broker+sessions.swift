import WharfMQTT

extension Broker {
    /// The session a CONNECT was given.
    public struct OpenedSession: Sendable {
        public let session: Session
        /// CONNACK's session-present flag.
        public let sessionPresent: Bool
        /// A connection with the same client id that must now be closed.
        public let takenOver: (any DeliveryTarget)?
        /// Clean start ended a journaled session: CONNACK (session present
        /// 0) must wait for that, or a crash would bring the old session back.
        var endedJournaledSession = false

        /// CONNACK waits until the session's record (or the end of the one
        /// clean start replaced) is durable: `JournalWriter.requireDurableReply`.
        public var connAckWaitsForJournal: Bool { session.journalQueue != nil || endedJournaledSession }
    }

    /// Opens or resumes the session for `clientId` with `owner` as its live
    /// connection. Clean start discards any previous state; otherwise a
    /// persistent session is resumed and its in-flight packets are appended
    /// to `resend`, to be written right after CONNACK.
    ///
    /// `expiryInterval` is the session expiry interval (5.0); nil means the
    /// 3.1.1 rule: clean session 0 keeps the session forever.
    /// `receiveMaximum` is the client's (5.0), bounding its in-flight window.
    ///
    /// `routedByCluster`: the session's queue is the cluster's (cluster
    /// mode, a session claimed there): its plain subscriptions stay out of
    /// the tree, see `Session.isRoutedByCluster`.
    public func openSession(
        clientId: String, cleanSession: Bool, expiryInterval: UInt32? = nil, receiveMaximum: Int? = nil,
        owner: any DeliveryTarget, authorization: ClientAuthorization? = nil, routedByCluster: Bool = false,
        resend: inout [OutboundPacket]
    ) -> OpenedSession {
        let expiry = expiryInterval ?? (cleanSession ? 0 : UInt32.max)
        if !cleanSession { endIfExpired(clientId) }
        var discarded: Session?
        var previousOwner: (any DeliveryTarget)?
        var deadLetters: [(Message, attempts: Int)] = []
        var resumed: Session?
        defer { if !deadLetters.isEmpty { deadLetter(deadLetters, from: resumed?.journalQueue) } }
        let opened: OpenedSession = sessions.withLock { store in
            let key = ExactString(clientId)
            if let existing = store[key], existing.isPersistent, !cleanSession {
                // Before it is online: nothing reaches the new client unchecked.
                existing.authorize(authorization)
                previousOwner = existing.attach(owner, receiveMaximum: receiveMaximum, resend: &resend, deadLetters: &deadLetters)
                resumed = existing
                if existing.expiryInterval != expiry, let queue = existing.journalQueue {
                    journalAlone { $0.sessionOpened(queue, clientId: clientId, expiryInterval: expiry) }
                }
                existing.setExpiryInterval(expiry)
                return OpenedSession(session: existing, sessionPresent: true, takenOver: previousOwner)
            }
            if let existing = store[key] {
                previousOwner = existing.detachAll()
                discarded = existing
            }
            let journalQueue = expiry > 0 && isJournaling ? journal.newQueue() : nil
            let session = Session(
                clientId: clientId, expiryInterval: expiry,
                maxInflight: limits.maxInflightMessages, maxQueued: limits.maxQueuedMessages, journalQueue: journalQueue
            )
            if let journalQueue {
                journalAlone { $0.sessionOpened(journalQueue, clientId: clientId, expiryInterval: expiry) }
            }
            session.authorize(authorization)
            if routedByCluster { session.routeByCluster() }
            _ = session.attach(owner, receiveMaximum: receiveMaximum, resend: &resend)
            store[key] = session
            return OpenedSession(
                session: session, sessionPresent: false, takenOver: previousOwner, endedJournaledSession: discarded?.journalQueue != nil
            )
        }
        if routedByCluster, opened.sessionPresent { routeByCluster(opened.session) }
        if let discarded {
            stopExpiring(discarded)
            discard(discarded)
        } else if opened.sessionPresent, stopExpiring(opened.session), let queue = opened.session.journalQueue {
            // Back in time: the journaled deadline no longer holds.
            journalAlone { $0.sessionOffline(queue, expiresAt: 0) }
        }
        // A connection to the session before its will's delay ran out
        // cancels the will; a new session (clean start) ends the old one, so
        // its will goes now (5.0 section 3.1.3.2.2).
        if let will = pendingWills.withLock({ $0.removeValue(forKey: ExactString(clientId)) }) {
            journalAlone { $0.willEnded(clientId: clientId) }
            if !opened.sessionPresent { publishWill(will.message) }
        }
        return opened
    }

    /// True while `session` is the one the broker keeps for its client id:
    /// false once it ended (no expiry, expired, or replaced by a clean start).
    public func holds(_ session: Session) -> Bool {
        sessions.withLock { $0[ExactString(session.clientId)] === session }
    }

    /// The connection `owner` ended. A session with no expiry interval goes
    /// away with it; a persistent one stays, keeps its subscriptions and
    /// queues QoS 1/2, until its expiry interval (if finite) passes.
    public func closeSession(_ session: Session, owner: any DeliveryTarget) {
        guard session.detach(owner) else { return }
        let expiry = session.expiryInterval
        guard expiry == 0 else {
            if expiry != UInt32.max {
                let deadline = Clock.nowNanos() &+ UInt64(expiry) * 1_000_000_000
                expiringSessions.withLock { $0[ObjectIdentifier(session)] = ExpiringSession(session: session, deadline: deadline) }
                // The deadline is journaled as a wall-clock time, so a
                // restart does not give the session its whole interval again.
                if let queue = session.journalQueue {
                    let wallDeadline = WallClock.now().wallNow &+ UInt64(expiry) * 1_000_000_000
                    journalAlone { $0.sessionOffline(queue, expiresAt: wallDeadline) }
                }
            }
            return
        }
        endSession(session)
    }

    /// Removes an offline session from the sessions map (if it is still the one
    /// there), discards it, and publishes its pending will.
    func endSession(_ session: Session) {
        let removed = sessions.withLock { store in
            let key = ExactString(session.clientId)
            guard store[key] === session, !session.isOnline else { return false }
            store.removeValue(forKey: key)
            return true
        }
        guard removed else { return }
        discard(session)
        let will = pendingWills.withLock { wills -> PendingWill? in
            let key = ExactString(session.clientId)
            guard wills[key]?.session == ObjectIdentifier(session) else { return nil }
            return wills.removeValue(forKey: key)
        }
        if let will {
            journalAlone { $0.willEnded(clientId: session.clientId) }
            publishWill(will.message)
        }
    }

    /// Ends `clientId`'s offline session if its expiry has passed and the
    /// timer has not got to it yet (a restart restores sessions whose time
    /// ran out while the broker was down): it must not be resumed.
    private func endIfExpired(_ clientId: String) {
        guard let session = sessions.withLock({ $0[ExactString(clientId)] }) else { return }
        let now = Clock.nowNanos()
        let due = expiringSessions.withLock { expiring in
            guard let entry = expiring[ObjectIdentifier(session)], entry.deadline <= now else { return false }
            expiring.removeValue(forKey: ObjectIdentifier(session))
            return true
        }
        if due { endSession(session) }
    }

    /// Returns true if the session was counting down to its end.
    @discardableResult
    private func stopExpiring(_ session: Session) -> Bool {
        expiringSessions.withLock { $0.removeValue(forKey: ObjectIdentifier(session)) } != nil
    }

    /// Removes a session's subscriptions and counts what it still held
    /// (unless `countingLost` is false: it is kept elsewhere).
    func discard(_ session: Session, countingLost: Bool = true) {
        removeFromRouting(session, filters: session.subscriptions.map(\.filter))
        if let queue = session.journalQueue { journalAlone { $0.sessionEnded(queue) } }
        let (lost, fromGroups) = session.discardMessages()
        if lost > 0, countingLost { metrics.messageDropped(.sessionDiscarded, count: lost) }
        session.groupDeliveriesDiscarded(fromGroups)
    }

    /// A client id for CONNECT with an empty one (3.1.1 section 3.1.3.1; 5.0
    /// returns it in CONNACK as the assigned client identifier).
    public func assignClientId() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        let suffix = (0..<16).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
        return "wharf-" + String(decoding: suffix, as: UTF8.self)
    }
}
