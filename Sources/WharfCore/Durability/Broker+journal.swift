import Foundation
import WharfMQTT

/// The rules of what is durable, in one place: which effects of routing and
/// of a connection's packets go to the journal. A message is journaled when
/// it is QoS 1/2 or retained and the journal keeps anything
/// (`Message.isJournaled`); a delivery is, when it is QoS 1/2 and its queue
/// is a journaled one (a persistent session's, or a group's). Hot-path
/// effects go into the calling connection's writer, committed once per read
/// batch; rare ones (sessions, groups, wills, dead letters) are committed on
/// their own (`journalAlone`).
// The per-message rules are @inlinable: the connection layer calls them for
// every delivery and acknowledgement, and a call across the module boundary
// (with the writer's existential passed along) cost ~1.5% of a QoS 1
// message's instructions even when nothing is journaled.
extension Broker {
    /// A journal id for a new message (QoS 1/2, or retained), or 0 when it
    /// is never journaled.
    @inlinable
    public func newJournalId(qos: QoS, retain: Bool) -> UInt64 {
        guard isJournaling, qos != .atMostOnce || retain else { return 0 }
        return journal.newMessageId()
    }

    /// Writes effects nobody waits on, in a commit of their own.
    func journalAlone(_ write: (any JournalWriter) -> Void) {
        guard isJournaling else { return }
        let writer = journal.makeWriter()
        write(writer)
        writer.commit(whenDurable: nil)
    }

    /// A connection's writer: a fresh one from the journal (shared and free
    /// for a journal that keeps nothing).
    public func makeJournalWriter() -> any JournalWriter { journal.makeWriter() }

    /// The journal queue a delivery belongs to: its group's, or its session's.
    @inlinable
    func journalQueue(of done: OutboundQueue.Acknowledged, session: Session) -> JournalQueue? {
        guard done.message.isJournaled else { return nil }
        if let group = done.group { return group.journalQueue }
        return session.journalQueue
    }

    /// A delivery is finished (PUBACK, PUBCOMP, or dead-lettered): it
    /// leaves its journaled queue.
    @inlinable
    public func journalAcknowledged(_ done: OutboundQueue.Acknowledged, session: Session, into writer: any JournalWriter) {
        guard done.message.isJournaled else { return }
        if done.group != nil, done.qos == .exactlyOnce {
            // It left the group's queue at PUBREC (`journalReceived`): it is in the member's, if anywhere.
            if let member = session.journalQueue { writer.removed(done.message.journalId, from: member) }
            return
        }
        if let queue = journalQueue(of: done, session: session) { writer.removed(done.message.journalId, from: queue) }
    }

    /// PUBREC for a journaled QoS 2 delivery: the message is the
    /// subscriber's now, and after a crash the broker must resend PUBREL
    /// under the same packet id, not the PUBLISH (5.0 section 4.3.3).
    ///
    /// A consumer group's message moves from the group's queue to the
    /// member's: past PUBREC it belongs to that member alone (5.0 section
    /// 4.8.2), and a restarted broker must not give it to another member.
    /// The member's entry is written before the group's removal, so the
    /// message is never without a queue in between; the PUBREL waits for both.
    public func journalReceived(
        _ message: Message, group: ConsumerGroup?, packetId: UInt16, session: Session, into writer: any JournalWriter
    ) {
        guard message.isJournaled else { return }
        let member = session.journalQueue
        if let group, let groupQueue = group.journalQueue {
            if let member {
                writer.enqueued(message.journalId, by: member, qos: .exactlyOnce, retain: false, onSubscribe: false, subscriptionIds: .none)
                writer.sent(message.journalId, queue: member, packetId: packetId)
                writer.released(message.journalId, queue: member)
            }
            writer.removed(message.journalId, from: groupQueue)
            writer.requireDurableReply()
        } else if let member {
            writer.released(message.journalId, queue: member)
        }
    }

    /// A delivery went out. QoS 2 goes out under one packet id for good: a
    /// restart resends it under the same one, so the client's duplicate
    /// check holds.
    @inlinable
    public func journalSent(
        _ message: Message, qos: QoS, dup: Bool, packetId: UInt16?, session: Session?, into writer: any JournalWriter
    ) {
        guard qos == .exactlyOnce, !dup, message.isJournaled, let packetId, let queue = session?.journalQueue else { return }
        writer.sent(message.journalId, queue: queue, packetId: packetId)
    }

    /// A delivery discarded as if delivered (too large for the client).
    public func journalAbandoned(_ message: Message, session: Session, into writer: any JournalWriter) {
        guard message.isJournaled, let queue = session.journalQueue else { return }
        writer.removed(message.journalId, from: queue)
    }

    /// Inbound QoS 2: `packetId` now awaits PUBREL, or no longer does.
    @inlinable
    public func journalInbound(session: Session, packetId: UInt16, awaitingRelease: Bool, into writer: any JournalWriter) {
        guard let queue = session.journalQueue else { return }
        writer.inbound(queue: queue, packetId: packetId, awaitingRelease: awaitingRelease)
    }

    /// A 5.0 DISCONNECT changed the session expiry interval.
    public func setExpiryInterval(_ expiry: UInt32, of session: Session, journal writer: any JournalWriter) {
        if expiry != session.expiryInterval, expiry != 0, let queue = session.journalQueue {
            writer.sessionOpened(queue, clientId: session.clientId, expiryInterval: expiry)
        }
        session.setExpiryInterval(expiry)
    }

    /// Publisher de-duplication: true for a repeat. A new id is journaled
    /// too, so a restart still recognises a retry.
    public func isRepeat(topic: String, id: String, journal writer: any JournalWriter) -> Bool {
        if deduplication.isRepeat(topic: topic, id: id) { return true }
        if isJournaling { writer.deduplicationId(topic: topic, id: id, seenAt: UInt64(Date().timeIntervalSince1970 * 1e9)) }
        return false
    }
}

extension Message {
    /// Journaled: QoS 1/2 or retained, published while the journal keeps anything.
    @inlinable
    public var isJournaled: Bool { journalId != 0 }
}
