import WharfCore
import WharfMQTT
import WharfNATS

/// QoS 2 to a consumer group's member across nodes: once the member's
/// PUBREC is in, the message is the member's session's, as on one node
/// (where the journal moves it from the group's queue to the session's).
///
/// Before the PUBREL goes out, the session's record keeps the packet id
/// with the entry's place in the group's queue; then the entry is deleted
/// from that queue. While the delete is on its way the record names the
/// entry: every node lets such an entry go when JetStream gives it out
/// again (`GroupPuller`), and the node the client connects to next deletes
/// it before its own PUBREL. At PUBCOMP the record forgets the packet id,
/// and the entry once its delete has landed. So the member gets the message
/// once and only the member: never again under a new packet id, never to
/// another member. Acknowledged at PUBCOMP instead (as before this), a
/// node dying in between had JetStream give the entry out again after the
/// ack wait, to any member, as a new message. With the delete waited for
/// by the PUBREL a persistent member took 1,273 QoS 2 messages/s beside a
/// clean member's 2,818 (`scripts/bench-group-qos2`, medians of 3); off
/// that path, only the record write is waited for, as for a delivery from
/// the session's own queue: 1,508 beside 2,817.
///
/// Only for persistent sessions, whose records outlive their node. A clean
/// session's delivery is settled at PUBCOMP: if its node dies, the client
/// starts a new session and the message goes to a member again.
extension ClusterNode {
    public func sessionReleased(
        clientId: String, epoch: UInt64, packetId: UInt16, lastPacketId: UInt16, from group: ConsumerGroup, _ message: Message,
        journal: (any JournalWriter)?
    ) {
        let share = GroupQueue.shareText(name: group.name, filter: group.filter)
        guard let puller = state.withLock({ $0.groupPullers[share] }), puller.group === group,
            let sequence = puller.sequence(of: message)
        else { return }  // A PUBREC again, or the group closed here: nothing held.
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        let outcome = changeClaimedRecord(clientId, epoch: epoch, gate: gate, strict: true) { record in
            var released = record.released ?? []
            released.removeAll { $0.packetId == packetId }
            released.append(SessionRecord.Released(packetId: packetId, sequence: 0, groupSequence: sequence))
            record.released = released
            record.lastPacketId = lastPacketId
        }
        if outcome == .notClaimed {
            // No longer this node's to deliver: no PUBREL from here.
            gate?.add()
            gate?.finished(ok: false)
            return
        }
        // The delete is off the PUBREL's path: the record names the entry
        // from now on (no node gives it to a member), and keeps naming it
        // past PUBCOMP until the delete has landed.
        let delete: @Sendable () async -> Void = { [self] in
            do throws(JetStreamError) {
                _ = try await jetStream.deleteMessage(GroupQueue.stream, sequence: sequence)
            } catch {
                // Still held here, kept alive, and acknowledged at PUBCOMP
                // (or let go by whichever node JetStream gives it to).
                count(error: error)
                return
            }
            // Out of what the puller holds, and acknowledged (the consumer
            // forgets its delivery at once, not at the ack wait).
            puller.settled([message], expired: false)
            groupEntryDeleted(sequence, clientId: clientId, epoch: epoch)
        }
        guard let gate else {
            Task { await delete() }
            return
        }
        gate.afterOtherWrites { recorded in
            // Not recorded: no PUBREL (the connection closes), the entry
            // stays held here and is settled at PUBCOMP as any other.
            gate.finished(ok: recorded)
            if recorded { Task { await delete() } }
        }
    }

    /// The delete of group entry `sequence` from `WHARF_G` landed: if the
    /// member's PUBCOMP came first (the record keeps the entry without a
    /// packet id), the record forgets it now; otherwise PUBCOMP will.
    private func groupEntryDeleted(_ sequence: UInt64, clientId: String, epoch: UInt64) {
        let changed = state.withLock { state -> Bool in
            guard var session = state.claimed[clientId], session.epoch == epoch else { return false }
            guard let index = session.record.released?.firstIndex(where: { $0.groupSequence == sequence && $0.packetId == 0 }) else {
                session.deletedGroupEntries.insert(sequence)
                state.claimed[clientId] = session
                return false
            }
            session.record.released?.remove(at: index)
            if session.record.released?.isEmpty == true { session.record.released = nil }
            session.dirty = true
            state.claimed[clientId] = session
            return true
        }
        if changed { writeRecord(clientId) }
    }

    /// PUBCOMP for a delivery not from the session's queue: if the record
    /// keeps its packet id (a group's delivery past PUBREC), the packet id
    /// goes (the client may reuse it at once); the entry goes with it if
    /// its delete from `WHARF_G` landed, and otherwise stays, without a
    /// packet id, until it has. Most such deliveries (retained ones on
    /// subscribe, a clean session's) were never recorded, and cost no write.
    func groupDeliveryCompleted(clientId: String, epoch: UInt64, packetId: UInt16) {
        let changed = state.withLock { state -> Bool in
            guard var session = state.claimed[clientId], session.epoch == epoch,
                let index = session.record.released?.firstIndex(where: { $0.packetId == packetId && $0.groupSequence != nil }),
                let sequence = session.record.released?[index].groupSequence
            else { return false }
            if session.deletedGroupEntries.remove(sequence) != nil {
                session.record.released?.remove(at: index)
                if session.record.released?.isEmpty == true { session.record.released = nil }
            } else {
                session.record.released?[index].packetId = 0
            }
            session.dirty = true
            state.claimed[clientId] = session
            return true
        }
        if changed { writeRecord(clientId) }
    }

    /// A claimed record's group entries completed (PUBCOMP) whose delete
    /// had not landed: `removeReleasedGroupEntries` deleted them, so the
    /// record forgets them. Whether it changed.
    static func forgetCompletedGroupEntries(_ record: inout SessionRecord) -> Bool {
        guard let released = record.released, released.contains(where: { $0.packetId == 0 }) else { return false }
        let kept = released.filter { $0.packetId != 0 }
        record.released = kept.isEmpty ? nil : kept
        return true
    }

    /// Whether a session's record holds the group entry at `sequence` past
    /// PUBREC, for an entry JetStream gives out again. Asked of the records
    /// as of now, not as this node's watch last had them: the watch can lag
    /// (it starts again after NATS trouble, which is when entries come
    /// back), and a chaos run saw entries whose records it had not read yet
    /// go to a second member. So the sessions bucket's last revision is
    /// read, and the answer waits (up to 3 s) until the watch applied it.
    /// Nil: no answer (the entry goes back to the queue for later).
    ///
    /// No record naming it, the entry must still be in the queue (asked of
    /// the stream's leader): a record forgets an entry only once its delete
    /// landed, so an entry given out just before a claim deleted it and its
    /// record forgot it is gone by then. Without this a chaos run gave such
    /// an entry to a second member as the first one's claim settled it.
    func isGroupEntryReleasedToASession(_ sequence: UInt64) async -> Bool? {
        guard let current = await sessionsRevision(readAfter: ContinuousClock.now) else { return nil }
        let deadline = ContinuousClock.now + .seconds(3)
        while state.withLock({ $0.sessionsWatchRevision }) < current {
            guard ContinuousClock.now < deadline, !isStopped else { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if inboxRoutes.withLock({ $0.holdsReleasedGroupEntry(sequence) }) { return true }
        do throws(JetStreamError) {
            return try await jetStream.getMessage(GroupQueue.stream, .sequence(sequence)) == nil
        } catch {
            return nil
        }
    }

    /// The sessions bucket's last revision, read at most 100 ms before
    /// `instant`: a read that recent is shared (a member that leaves hands
    /// back up to a window of entries at once, each given out again), so a
    /// burst costs one STREAM.INFO, not one per entry. 100 ms is safe: a
    /// record naming an entry was written before the entry could be given
    /// out again (the ack wait after its node last kept it, at least 3 s).
    private func sessionsRevision(readAfter instant: ContinuousClock.Instant) async -> UInt64? {
        let read = state.withLock { state -> Task<UInt64?, Never>? in
            guard let store = state.buckets?.sessions else { return nil }
            if let last = state.sessionsRevisionRead, last.startedAt + .milliseconds(100) >= instant { return last.task }
            let task = Task { [jetStream] in
                try? await jetStream.streamInfo(store.bucket.streamName).state.lastSequence
            }
            state.sessionsRevisionRead = (ContinuousClock.now, task)
            return task
        }
        return await read?.value
    }

    /// A claim's group deliveries past PUBREC: their entries leave the
    /// groups' queue (if their node had not deleted them yet) before this
    /// connection sends PUBREL and the record can forget them. Nil when
    /// done; otherwise why not (the connect is refused, and tried again).
    func removeReleasedGroupEntries(of record: SessionRecord) async -> String? {
        for released in record.released ?? [] {
            guard let sequence = released.groupSequence else { continue }
            do throws(JetStreamError) {
                _ = try await jetStream.deleteMessage(GroupQueue.stream, sequence: sequence)
            } catch {
                count(error: error)
                return "cannot settle a group delivery past PUBREC: \(error)"
            }
        }
        return nil
    }
}
