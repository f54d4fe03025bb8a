import Foundation
import WharfMQTT
import WharfStorage

/// How the broker writes to its durable store. Hot-path records (messages,
/// acknowledgements, QoS 2 state) go into the calling connection's
/// `StorageBatch`, submitted once per read batch; rare ones (sessions,
/// subscriptions, groups, wills, dead letters) are submitted on their own.
extension Broker {
    /// An id for a message that may have to be stored (QoS 1/2, or
    /// retained), or 0 when there is no store or it never will be.
    @inline(__always)
    public func newStorageId(qos: QoS, retain: Bool) -> UInt64 {
        guard let storage, qos != .atMostOnce || retain else { return 0 }
        return storage.nextMessageId()
    }

    /// The monotonic time for a stored Unix time (in the past: clamped to 0).
    func monotonicNanos(_ wall: UInt64, now: UInt64, wallNow: UInt64) -> UInt64 {
        wall >= wallNow ? now &+ (wall - wallNow) : now &- min(now, wallNow - wall)
    }

    func storedForm(_ message: Message, wallOffset: (now: UInt64, wall: UInt64)) -> StoredMessage {
        func wall(_ monotonic: UInt64) -> UInt64 {
            monotonic >= wallOffset.now ? wallOffset.wall &+ (monotonic - wallOffset.now) : wallOffset.wall &- min(wallOffset.wall, wallOffset.now - monotonic)
        }
        return StoredMessage(
            id: message.storageId, topic: message.topic, payload: message.payload, qos: message.qos.rawValue,
            retain: message.retain, forwardsExpiry: message.forwardsExpiry, publishedAt: wall(message.publishedAtNanos),
            expiresAt: message.expiresAtNanos.map(wall) ?? 0, properties: message.forwardedProperties
        )
    }

    /// The clock pair stored times are converted with, read once per call.
    func clockPair() -> (now: UInt64, wall: UInt64) {
        (Clock.nowNanos(), UInt64(Date().timeIntervalSince1970 * 1e9))
    }

    /// Writes records nobody waits on (their own small batch).
    func record(_ build: (inout StorageBatch) -> Void) {
        guard let storage else { return }
        var batch = StorageBatch(capacity: 256)
        build(&batch)
        storage.submit(&batch)
    }

    /// The store's queue a delivery belongs to: its group's, or its session's.
    @inline(__always)
    public func storageQueue(of done: OutboundQueue.Acknowledged, session: Session) -> UInt64 {
        guard done.message.storageId != 0 else { return 0 }
        if let group = done.group { return group.storageQueue }
        return session.storageQueue
    }

    /// A delivery is finished (acknowledged, or dead-lettered): it leaves its stored queue.
    @inline(__always)
    public func recordDone(_ done: OutboundQueue.Acknowledged, session: Session, into journal: inout StorageBatch) {
        if done.group != nil, done.qos == .exactlyOnce {
            // It left the group's queue at PUBREC (`recordReceived`): it is in the member's, if anywhere.
            if done.message.storageId != 0, session.storageQueue != 0 {
                journal.remove(queue: session.storageQueue, message: done.message.storageId)
            }
            return
        }
        let queue = storageQueue(of: done, session: session)
        if queue != 0 { journal.remove(queue: queue, message: done.message.storageId) }
    }

    /// PUBREC for a stored QoS 2 delivery: the message is the subscriber's
    /// now, and after a crash the broker must resend PUBREL under the same
    /// packet id, not the PUBLISH (5.0 section 4.3.3).
    ///
    /// A consumer group's message moves from the group's queue to the
    /// member's: past PUBREC it belongs to that member alone (5.0 section
    /// 4.8.2), and a restarted broker must not give it to another member.
    /// The member's entry is written before the group's removal, so the
    /// message is never without a queue in between.
    public func recordReceived(
        _ message: Message, group: ConsumerGroup?, packetId: UInt16, session: Session, into journal: inout StorageBatch
    ) {
        guard message.storageId != 0 else { return }
        let member = session.storageQueue
        if let group, group.storageQueue != 0 {
            if member != 0 {
                journal.enqueue(QueueEntry(queue: member, message: message.storageId, qos: QoS.exactlyOnce.rawValue))
                journal.sent(queue: member, message: message.storageId, packetId: packetId)
                journal.released(queue: member, message: message.storageId)
            }
            journal.remove(queue: group.storageQueue, message: message.storageId)
            journal.requireDurableReply()
        } else if member != 0 {
            journal.released(queue: member, message: message.storageId)
        }
    }

    /// Publisher de-duplication: true for a repeat. A new id is written to
    /// the store too, so a restart still recognises a retry.
    public func isRepeat(topic: String, id: String, journal: inout StorageBatch) -> Bool {
        if deduplication.isRepeat(topic: topic, id: id) { return true }
        if storage != nil { journal.dedup(topic: topic, id: id, seenAt: UInt64(Date().timeIntervalSince1970 * 1e9)) }
        return false
    }

    /// The options byte a subscription is stored with: QoS in bits 0-1, no
    /// local 2, retain as published 3, retain handling 4-5.
    static func storedOptions(_ request: SubscribePacket.Subscription) -> UInt8 {
        request.qos.rawValue | (request.noLocal ? 4 : 0) | (request.retainAsPublished ? 8 : 0) | (request.retainHandling & 3) << 4
    }
}
