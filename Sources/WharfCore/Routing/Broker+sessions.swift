import WharfMQTT

extension Broker {
    /// The session a CONNECT was given.
    public struct OpenedSession: Sendable {
        public let session: Session
        /// CONNACK's session-present flag.
        public let sessionPresent: Bool
        /// A connection with the same client id that must now be closed.
        public let takenOver: (any DeliveryTarget)?
    }

    /// Opens or resumes the session for `clientId` with `owner` as its live
    /// connection. Clean session discards any previous state; otherwise a
    /// persistent session is resumed and its in-flight packets are appended
    /// to `resend`, to be written right after CONNACK.
    public func openSession(
        clientId: String, cleanSession: Bool, owner: any DeliveryTarget, resend: inout [OutboundPacket]
    ) -> OpenedSession {
        var discarded: Session?
        var previousOwner: (any DeliveryTarget)?
        var deadLetters: [Message] = []
        defer { if !deadLetters.isEmpty { deadLetter(deadLetters) } }
        let opened: OpenedSession = sessions.withLock { store in
            let key = ExactString(clientId)
            if let existing = store[key], existing.isPersistent, !cleanSession {
                previousOwner = existing.attach(owner, resend: &resend, deadLetters: &deadLetters)
                return OpenedSession(session: existing, sessionPresent: true, takenOver: previousOwner)
            }
            if let existing = store[key] {
                previousOwner = existing.detachAll()
                discarded = existing
            }
            let session = Session(
                clientId: clientId, isPersistent: !cleanSession,
                maxInflight: limits.maxInflightMessages, maxQueued: limits.maxQueuedMessages
            )
            _ = session.attach(owner, resend: &resend)
            store[key] = session
            return OpenedSession(session: session, sessionPresent: false, takenOver: previousOwner)
        }
        if let discarded { discard(discarded) }
        return opened
    }

    /// The connection `owner` ended. A clean session goes away with it; a
    /// persistent one stays, keeps its subscriptions and queues QoS 1/2.
    public func closeSession(_ session: Session, owner: any DeliveryTarget) {
        guard session.detach(owner), !session.isPersistent else { return }
        let removed = sessions.withLock { store in
            let key = ExactString(session.clientId)
            guard store[key] === session else { return false }
            store.removeValue(forKey: key)
            return true
        }
        if removed { discard(session) }
    }

    /// Removes a session's subscriptions and counts what it still held.
    private func discard(_ session: Session) {
        removeFromRouting(session, filters: session.subscriptions.map(\.filter))
        let lost = session.discardMessages()
        if lost > 0 { metrics.messageDropped(.sessionDiscarded, count: lost) }
    }

    /// A client id for CONNECT with an empty one and clean session (3.1.1 section 3.1.3.1).
    public func assignClientId() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        let suffix = (0..<16).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
        return "wharf-" + String(decoding: suffix, as: UTF8.self)
    }
}
