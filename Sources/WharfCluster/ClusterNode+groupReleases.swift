import WharfCore
import WharfMQTT
import WharfNATS

/// QoS 2 to a consumer group's member across nodes: once the member's
/// PUBREC is in, the message is the member's session's, as on one node
/// (where the journal moves it from the group's queue to the session's).
///
/// In order, before the PUBREL goes out: the session's record keeps the
/// packet id with the entry's place in the group's queue, then the entry
/// is deleted from that queue. A node that dies between the two leaves the
/// entry in the queue with a record naming it: every node lets such an
/// entry go when JetStream gives it out again (`GroupPuller`), and the
/// node the client connects to next deletes it before its own PUBREL. The
/// record forgets the packet id at PUBCOMP. So the member gets the message
/// once and only the member: never again under a new packet id, never to
/// another member. Acknowledged at PUBCOMP instead (as before this), a
/// node dying in between had JetStream give the entry out again after the
/// ack wait, to any member, as a new message.
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
        let settle: @Sendable (Bool) async -> Bool = { [self] recorded in
            // Not recorded: the entry stays held (and kept alive) here, and
            // is settled at PUBCOMP as any other.
            guard recorded else { return false }
            do throws(JetStreamError) {
                _ = try await jetStream.deleteMessage(GroupQueue.stream, sequence: sequence)
            } catch {
                count(error: error)
                return false
            }
            // Takes it out of what the puller holds, and acknowledges it
            // (the consumer forgets its delivery at once, not at the ack wait).
            puller.settled([message], expired: false)
            return true
        }
        guard let gate else {
            Task { _ = await settle(true) }
            return
        }
        gate.afterOtherWrites { recorded in
            Task { gate.finished(ok: await settle(recorded)) }
        }
    }

    /// PUBCOMP for a delivery not from the session's queue: if the record
    /// keeps its packet id (a group's delivery past PUBREC), it goes.
    /// Looked up first: most such deliveries (retained ones on subscribe,
    /// a clean session's) were never recorded, and cost no write.
    func groupDeliveryCompleted(clientId: String, epoch: UInt64, packetId: UInt16) {
        let recorded = state.withLock { state in
            state.claimed[clientId]?.record.released?.contains { $0.packetId == packetId && $0.groupSequence != nil } ?? false
        }
        guard recorded else { return }
        changeClaimedRecord(clientId, epoch: epoch, gate: nil) { record in
            var released = record.released ?? []
            released.removeAll { $0.packetId == packetId && $0.groupSequence != nil }
            record.released = released.isEmpty ? nil : released
        }
    }

    /// Whether a session's record holds the group entry at `sequence` past
    /// PUBREC, for an entry JetStream gives out again. Asked of the records
    /// as of now, not as this node's watch last had them: the watch can lag
    /// (it starts again after NATS trouble, which is when entries come
    /// back), and a chaos run saw entries whose records it had not read yet
    /// go to a second member. So the sessions bucket's last revision is
    /// read, and the answer waits (up to 3 s) until the watch applied it.
    /// Nil: no answer (the entry goes back to the queue for later).
    func isGroupEntryReleasedToASession(_ sequence: UInt64) async -> Bool? {
        guard let current = await sessionsRevision(readAfter: ContinuousClock.now) else { return nil }
        let deadline = ContinuousClock.now + .seconds(3)
        while state.withLock({ $0.sessionsWatchRevision }) < current {
            guard ContinuousClock.now < deadline, !isStopped else { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return inboxRoutes.withLock { $0.holdsReleasedGroupEntry(sequence) }
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
