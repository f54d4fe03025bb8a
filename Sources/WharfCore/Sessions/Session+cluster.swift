import Synchronization
import WharfMQTT

extension Session {
    // MARK: Cluster mode

    /// Cluster mode's persistent sessions: the session's queue is a stream
    /// in the cluster, which every node appends to and the delivering node
    /// reads into this queue. Its plain subscriptions then stay out of this
    /// node's tree (the cluster routes them to the queue), and what this
    /// queue holds is a window onto the cluster's, kept in step by
    /// `lastInboxSequence` and `oldestInboxSequence`. Set once, before the
    /// session subscribes to anything; never cleared.
    public var isRoutedByCluster: Bool { state.withLock { $0.routedByCluster } }

    func routeByCluster() {
        state.withLock { $0.routedByCluster = true }
    }

    /// Entries of the cluster queue up to `sequence` may have been sent to
    /// the client by the node that delivered the session before this
    /// connection (`ClusterSessionGrant.resendThrough`): their first send
    /// here carries DUP, as a resend on one node would.
    public func markMaybeSent(through sequence: UInt64) {
        state.withLock { state in state.maybeSentThrough = max(state.maybeSentThrough, sequence) }
    }

    /// The highest place in the cluster queue of a delivery sent and not
    /// yet acknowledged (0: none): what a later connection elsewhere must
    /// send with DUP.
    public var highestSentInboxSequence: UInt64 { state.withLock { $0.outbound.highestInflightInboxSequence } }

    /// The last place in the cluster queue enqueued here (0: none yet): a
    /// reader that starts again skips up to it.
    public var lastInboxSequence: UInt64 { state.withLock { $0.lastInboxSequence } }

    /// Where the cluster queue may be deleted up to, not included: the
    /// oldest place still held here, or past the last one enqueued when
    /// nothing is held (acknowledged, or dropped and counted). Never past
    /// what the reader got to: a delivery another node took past PUBREC
    /// (`restoreReleased`) is held here before its reader has read the
    /// older entries, which that node may have sent and never had
    /// acknowledged. Nil once the session's messages were discarded here
    /// (it went to another node, or ended): then nothing here says what
    /// was acknowledged.
    public var inboxFloor: UInt64? { state.withLock { $0.inboxFloor } }
}

extension Session.State {
    var inboxFloor: UInt64? {
        guard inboxFloorKnown else { return nil }
        let pastRead = lastInboxSequence &+ 1
        return min(outbound.oldestInboxSequence ?? pastRead, pastRead)
    }
}

extension Session {
    /// Subscriptions that are not shared ones (`$share/...` go to groups).
    var plainSubscriptionCount: Int {
        state.withLock { state in state.subscriptions.keys.count { !$0.string.hasPrefix("$share/") } }
    }
}

extension Session {
    /// Whether one of its plain subscriptions matches `topic`.
    public func hasPlainSubscription(matching topic: String) -> Bool {
        state.withLock { state in
            state.subscriptions.keys.contains { key in
                !key.string.hasPrefix("$share/") && TopicMatcher.matches(filter: key.string, topic: topic)
            }
        }
    }

    /// A place in the cluster queue this session passes over (a message for
    /// a subscription it no longer has).
    func skipInboxSequence(_ sequence: UInt64) {
        state.withLock { state in
            if sequence > state.lastInboxSequence {
                state.lastInboxSequence = sequence
                state.inboxRead.append(sequence)
            }
        }
    }

    /// Up to `limit` places in the cluster queue that were read here and
    /// are below `inboxFloor` (acknowledged, dropped and counted, or passed
    /// over), oldest first, to delete there; taken out of the list, so a
    /// failed delete must `returnDeletableInboxEntries`. Nil when no floor
    /// is known. With them comes how far they reach: the floor, or the
    /// first entry below it left for a later round. Below that, once these
    /// are deleted, nothing read here is left, so the record may forget
    /// completed QoS 2 deliveries there (`forgetCompleted`). Reaching to
    /// the floor past entries the limit left, the record forgot deliveries
    /// still in the queue, and a node that died before the next round had
    /// them sent again (a chaos run: five QoS 2 duplicates).
    public func takeDeletableInboxEntries(limit: Int) -> (sequences: [UInt64], floor: UInt64)? {
        state.withLock { state in
            guard let floor = state.inboxFloor else { return nil }
            var taken: [UInt64] = []
            while taken.count < limit, let first = state.inboxRead.first, first < floor {
                taken.append(state.inboxRead.removeFirst())
            }
            return (taken, min(floor, state.inboxRead.first ?? floor))
        }
    }

    /// Entries whose delete failed: taken again next time, in their order.
    public func returnDeletableInboxEntries(_ sequences: [UInt64]) {
        guard !sequences.isEmpty else { return }
        state.withLock { state in
            state.inboxRead.insert(contentsOf: sequences.sorted(), at: 0)
        }
    }

    /// Every place in the cluster queue read here and not deleted yet (the
    /// session ended, or went elsewhere): the list is emptied.
    public func takeAllReadInboxEntries() -> [UInt64] {
        state.withLock { state in
            defer { state.inboxRead.removeAll() }
            return Array(state.inboxRead)
        }
    }
}

extension Session {
    /// Places in the cluster queue whose QoS 2 delivery another connection
    /// completed: the reader passes over them.
    public func restoreCompleted(_ sequences: [UInt64]) {
        state.withLock { state in state.releasedInboxSequences.formUnion(sequences) }
    }

    /// QoS 2 deliveries another node's connection took to PUBREC: in flight
    /// again here, waiting for PUBCOMP, so that the next connection sends
    /// PUBREL for them. The message itself is the client's now: only its
    /// packet id and its place in the cluster queue are kept (0 for one a
    /// consumer group handed over). Returns the ones put in flight (an id
    /// already in flight here keeps its own).
    public func restoreReleased(_ deliveries: [ClusterReleasedDelivery]) -> [ClusterReleasedDelivery] {
        state.withLock { state in
            for delivery in deliveries where delivery.sequence != 0 { state.releasedInboxSequences.insert(delivery.sequence) }
            return deliveries.filter { delivery in
                state.outbound.restoreReleased(packetId: delivery.packetId, inboxSequence: delivery.sequence)
            }
        }
    }

    /// The packet id this copy of the session gave out last.
    public var lastPacketId: UInt16 { state.withLock { $0.outbound.lastPacketId } }

    /// A copy of the session made here from its record: its packet ids go on
    /// after the ones the node before gave out, not from 1. A record can be
    /// behind what that node did (its last writes may not have landed when
    /// it lost its lease), and it may still list as past PUBREC deliveries
    /// whose ids the client completed and got again for new messages there.
    /// Starting from 1, this copy gave those ids out at once to new
    /// deliveries, and the next node's PUBREL for the stale entry made the
    /// client take the new message under it: a message then sent again from
    /// the queue arrived twice (the chaos run saw QoS 2 duplicates this
    /// way). Going on from the record's last id, an id comes round again
    /// only after 65,535 more.
    public func continuePacketIds(after id: UInt16) {
        state.withLock { $0.outbound.continuePacketIds(after: id) }
    }

    /// Whether `sequence` of the cluster queue went past PUBREC on another
    /// connection (in flight here as a PUBREL, or completed already): its
    /// entry is not sent again. Asked once per entry, by the reader.
    public func holdsInboxSequence(_ sequence: UInt64) -> Bool {
        state.withLock { state in
            state.releasedInboxSequences.remove(sequence) != nil || state.outbound.holdsInFlight(inboxSequence: sequence)
        }
    }

    /// The place in the cluster queue of the delivery in flight under `id` (0: none).
    public func inboxSequence(ofInflight id: UInt16) -> UInt64 {
        state.withLock { $0.outbound.inboxSequence(ofInflight: id) }
    }
}

extension Session {
    /// What the session's queue in the cluster holds while the session is
    /// offline here (`count` entries, the oldest published at `oldestNanos`,
    /// monotonic): its figures count them, so the node that holds the
    /// session reports its whole backlog. Nil: none read (yet).
    public func setClusterBacklog(count: Int, oldestNanos: UInt64?) {
        state.withLock { $0.clusterBacklog = (count, oldestNanos) }
    }

    public func clearClusterBacklog() {
        state.withLock { $0.clusterBacklog = nil }
    }
}
