import Foundation
import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Persistent sessions across nodes (docs/cluster.md, "Session takeover"):
/// a CONNECT claims the record in `wharf_sessions` and fences every node
/// that may still deliver the session; the record then follows the
/// session's subscriptions and its end. A node that cannot renew its lease
/// closes its sessions' connections before the others may take them
/// (`selfFence`).
extension ClusterNode: ClusterSessionDirectory {
    /// A session this node claimed, and while connected, how to close it.
    struct ClaimedSession {
        var epoch: UInt64
        var record: SessionRecord
        var revision: UInt64
        /// Closes the connection (set by `sessionDelivering`).
        var release: ClusterSessionRelease?
        /// A release that came before the connection was open: it runs when
        /// it opens, or when the connect ends without opening.
        var releaseDue: (@Sendable () -> Void)?
        /// A record write is on its way; `dirty`: the record changed since
        /// it started, and is written again after it.
        var writing = false
        var dirty = false
        /// Writes that failed in a row (the next waits longer).
        var failedWrites = 0
        /// Replies waiting for the next write, and for the one on its way.
        var waiting: [Waiter] = []
        var inWrite: [Waiter] = []
        /// The connection ended: once the record is written, this goes.
        var ended = false
        /// The session ended with its connection: its record is deleted.
        var deleteRecord = false
        /// What its queue's reader handed over, kept in each record write
        /// (`SessionRecord.handedOver`).
        var replayed: ReplayedEntryGuard
        /// Group entries past PUBREC whose delete from `WHARF_G` landed and
        /// whose PUBCOMP has not come yet (ClusterNode+groupReleases).
        var deletedGroupEntries: Set<UInt64> = []
    }

    /// A reply waiting for a record write. `strict`: it must not go unless
    /// the record took the change (a QoS 2 exchange's PUBREC or PUBCOMP);
    /// otherwise it goes either way (a SUBACK: the subscription works here).
    struct Waiter {
        var gate: ClusterCommitGate
        var strict: Bool

        func finished(written: Bool) { gate.finished(ok: written || !strict) }
    }

    /// How long before its lease lapses (as the other nodes count it) a
    /// node that could not renew stops delivering its sessions: the others
    /// may take them over once it has lapsed.
    var selfFenceAfter: Duration { options.lease * 6 / 10 }

    /// How long a clean session's CONNECT waits to learn whether the client
    /// has a record elsewhere.
    var cleanReadTimeout: Duration { .milliseconds(500) }

    public func claimSession(_ connect: ClusterSessionConnect) async -> ClusterSessionClaim {
        let (store, fenced) = state.withLock { state in (state.buckets?.sessions, isSelfFenced(state)) }
        if connect.expiryInterval == 0 {
            // Clean sessions are each node's own, and cost the cluster one
            // read: a record means the client's session lives elsewhere,
            // and this connect takes it (and ends it) like any other. The
            // read is bounded: with NATS in trouble clean sessions go on
            // as on one node. Any replica may answer (a direct read), so a
            // stream leader's election does not hold clean connects either.
            guard let store, !fenced, let found = try? await store.read(connect.clientId, timeout: cleanReadTimeout, fromLeader: false),
                found.record != nil
            else {
                return .notRecorded
            }
        }
        guard let store else { return .unavailable("the node has not joined the cluster yet") }
        guard !fenced else { return .unavailable("the node cannot renew its cluster lease") }
        let will = connect.will.map { SessionRecord.Will($0, delaySeconds: connect.willDelay) }
        let claimed: SessionStore.Claimed
        do {
            claimed = try await store.claim(
                connect.clientId, cleanStart: connect.cleanStart, expiryInterval: connect.expiryInterval, will: will,
                now: WallClock.now().wallNow)
        } catch {
            count(error: error)
            return .unavailable("cannot claim the session record: \(error)")
        }
        guard await fence(session: connect.clientId, claim: claimed.claim) else {
            return .unavailable("another connect of this client took the session first")
        }
        // Group entries past PUBREC leave their queue before this
        // connection sends PUBREL for them (their node may have died first).
        if let problem = await removeReleasedGroupEntries(of: claimed.record) { return .unavailable(problem) }
        publishWillOfLostConnection(claimed.previous)
        let resendThrough = claimed.sessionPresent ? await maybeSentThrough(connect.clientId, previous: claimed.previous) : 0
        logger.debug(
            "session claimed",
            metadata: [
                "client": "\(connect.clientId)", "epoch": "\(claimed.record.ownership.epoch)",
                "previous": "\(claimed.previousOwner ?? "none")", "released": "\(claimed.record.released ?? [])",
                "resendThrough": "\(resendThrough)", "received": "\(claimed.record.received ?? [])",
            ])
        var record = claimed.record
        var revision = claimed.revision
        if !record.ownership.unreleased.isEmpty, let cleared = await store.fenced(claimed) {
            record.ownership = record.ownership.fenced
            revision = cleared
        }
        // Written below, before the client can send them again.
        let marked = await markExchangesRoutedElsewhere(&record, previousOwner: claimed.previousOwner)
        let forgot = Self.forgetCompletedGroupEntries(&record)
        // The last owner not asked (the session was offline there) still
        // has a copy: told to drop it. Nothing waits for its answer.
        if let previous = claimed.previousOwner, previous != options.nodeName, !claimed.claim.ask.contains(previous) {
            askToRelease(previous, ReleaseRequest(session: connect.clientId, epoch: record.ownership.epoch))
        }
        if claimed.previous != nil, !claimed.sessionPresent {
            // A clean start (or an expired session): the old queue goes
            // before the new session reads it.
            do {
                try await clearInbox(of: connect.clientId)
            } catch {
                count(error: error)
                return .unavailable("cannot empty the ended session's queue: \(error)")
            }
        }
        applyInboxRoutes(key: ClusterNames.key(for: connect.clientId), record: record, revision: revision)
        let (replaced, adoptedHere) = state.withLock { state -> ([Waiter], Bool) in
            let old = state.claimed[connect.clientId]
            // A copy adopted here was never delivered here: not vouched for.
            let adopted = state.adopted.remove(connect.clientId) != nil
            // A reader here may go on across the claim: it keeps its filter.
            var session = ClaimedSession(
                epoch: record.ownership.epoch, record: record, revision: revision,
                replayed: old?.replayed ?? ReplayedEntryGuard(record.handedOver))
            session.dirty = marked || forgot
            state.claimed[connect.clientId] = session
            return ((old?.waiting ?? []) + (old?.inWrite ?? []), adopted)
        }
        // The older connection's writes will not land: its strict replies fail.
        for waiter in replaced { waiter.finished(written: false) }
        if marked || forgot { writeRecord(connect.clientId) }
        return .claimed(
            ClusterSessionGrant(
                epoch: record.ownership.epoch, sessionPresent: claimed.sessionPresent,
                lastDeliveredHere: claimed.previousOwner == options.nodeName && !adoptedHere,
                subscriptions: record.subscriptions.compactMap { kept in
                    kept.packet.map { ClusterSessionSubscription($0, identifier: kept.identifier) }
                },
                released: (record.released ?? []).filter { $0.packetId != 0 }.map {
                    ClusterReleasedDelivery(packetId: $0.packetId, sequence: $0.sequence)
                },
                received: (record.received ?? []).map(\.exchange), resendThrough: resendThrough,
                completed: record.completed ?? [], lastPacketId: record.lastPacketId ?? 0))
    }

    /// How far the session's queue may have been sent to the client before
    /// (`ClusterSessionGrant.resendThrough`), asked once the previous
    /// connection is fenced. A record that ended cleanly says
    /// (`sentThrough`); one still connected (taken over, or its node died)
    /// does not, so everything its queue holds now may have gone out. A
    /// replica answers: one a little behind leaves a few sent messages
    /// without DUP, which costs nothing but the flag.
    func maybeSentThrough(_ clientId: String, previous: SessionRecord?) async -> UInt64 {
        guard let previous else { return 0 }
        guard previous.ownership.connected else { return previous.sentThrough ?? 0 }
        let last = try? await jetStream.directGetLast(
            SessionInbox.stream, subject: SessionInbox.subject(for: clientId), timeout: cleanReadTimeout)
        return last?.sequence ?? 0
    }

    public func sessionDelivering(clientId: String, epoch: UInt64, session: Session, release: @escaping ClusterSessionRelease) {
        let due = state.withLock { state -> (@Sendable () -> Void)?? in
            guard state.claimed[clientId]?.epoch == epoch else { return .some(nil) }
            if let due = state.claimed[clientId]?.releaseDue {
                state.claimed[clientId]?.releaseDue = nil
                return .some(due)
            }
            state.claimed[clientId]?.release = release
            return .none
        }
        // Released before it opened (or claimed again since): closed at once.
        if case .some(let due) = due {
            release(.takenOver) { due?() }
            return
        }
        if session.isRoutedByCluster { startFollowing(clientId, session: session) }
    }

    public func sessionSubscriptionsChanged(
        clientId: String, epoch: UInt64, subscribed: [ClusterSessionSubscription], unsubscribed: [String],
        journal: (any JournalWriter)?
    ) {
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        changeClaimedRecord(clientId, epoch: epoch, gate: gate) { record in
            let gone = Set(unsubscribed).union(subscribed.map(\.request.filter))
            record.subscriptions.removeAll { gone.contains($0.filter) }
            record.subscriptions += subscribed.map { SessionRecord.Subscription($0.request, identifier: $0.identifier) }
        }
    }

    /// PUBREC: the record keeps the delivery before its PUBREL goes out
    /// (the client takes the message at PUBREL). Strict: a write that did
    /// not land, or a session no longer claimed here at `epoch`, fails the
    /// batch, so the PUBREL is not sent and the connection closes. Sent
    /// without the record, the next node would read the entry again and
    /// send it as a new message: the chaos run saw subscribers take QoS 2
    /// messages twice that way.
    public func sessionReleased(
        clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery, lastPacketId: UInt16, journal: (any JournalWriter)?
    ) {
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        let outcome = changeClaimedRecord(clientId, epoch: epoch, gate: gate, strict: true) { record in
            var released = record.released ?? []
            released.removeAll { $0.packetId == delivery.packetId }
            released.append(SessionRecord.Released(packetId: delivery.packetId, sequence: delivery.sequence))
            record.released = released
            record.lastPacketId = lastPacketId
        }
        if outcome == .notClaimed, let gate {
            gate.add()
            gate.finished(ok: false)
        }
    }

    /// PUBCOMP: the packet id goes from the record (the client may reuse
    /// it, and a PUBREL for it from another node would complete whatever
    /// the client holds under it now), the place in the queue stays until
    /// the queue is purged past it (`forgetCompleted`): if this node died
    /// first, the next one would read the entry again and send it as a new
    /// message, which a subscriber would take twice.
    public func sessionCompleted(clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery) {
        guard delivery.sequence != 0 else { return groupDeliveryCompleted(clientId: clientId, epoch: epoch, packetId: delivery.packetId) }
        changeClaimedRecord(clientId, epoch: epoch, gate: nil) { record in
            var released = record.released ?? []
            released.removeAll { $0.packetId == delivery.packetId }
            record.released = released.isEmpty ? nil : released
            var completed = record.completed ?? []
            if !completed.contains(delivery.sequence) { completed.append(delivery.sequence) }
            record.completed = completed
        }
    }

    /// The session's queue was purged below `floor`: the record forgets the
    /// completed deliveries that lay there.
    func forgetCompleted(_ clientId: String, below floor: UInt64) {
        guard let epoch = state.withLock({ $0.claimed[clientId]?.epoch }) else { return }
        changeClaimedRecord(clientId, epoch: epoch, gate: nil) { record in
            guard var completed = record.completed, completed.contains(where: { $0 < floor }) else { return }
            completed.removeAll { $0 < floor }
            record.completed = completed.isEmpty ? nil : completed
        }
    }

    public func sessionExchangesBegun(
        clientId: String, epoch: UInt64, _ exchanges: [(packetId: UInt16, exchange: InboundExchange)],
        then: @escaping @Sendable (Bool) -> Void
    ) {
        // A gate of its own: sealed now, done when the write is.
        let gate = ClusterCommitGate()
        gate.seal(then: then)
        let outcome = changeClaimedRecord(clientId, epoch: epoch, gate: gate, strict: true) { record in
            var received = record.received ?? []
            for (packetId, exchange) in exchanges {
                received.removeAll { $0.packetId == packetId }
                received.append(
                    SessionRecord.Received(
                        ClusterReceivedExchange(packetId: packetId, epoch: exchange.epoch, serial: exchange.serial, routed: false)))
            }
            record.received = received
        }
        for (packetId, exchange) in exchanges {
            logger.trace(
                "exchange begun",
                metadata: ["client": "\(clientId)", "packetId": "\(packetId)", "exchange": "\(exchange.epoch).\(exchange.serial)"])
        }
        // Not claimed here at this epoch any more: taken over, never routed here.
        gate.innerDone(outcome != .notClaimed)
    }

    public func sessionExchangeRouted(
        clientId: String, epoch: UInt64, packetId: UInt16, exchange: InboundExchange, journal: (any JournalWriter)?
    ) {
        let mark: @Sendable (ClusterCommitGate?) -> Void = { [self] gate in
            changeClaimedRecord(clientId, epoch: epoch, gate: gate, strict: true) { record in
                guard var received = record.received, let index = received.firstIndex(where: { $0.packetId == packetId }) else { return }
                received[index].routed = true
                record.received = received
            }
        }
        // Kept whether or not the mark lands: a node that claims the
        // session asks (ClusterNode+exchanges).
        let key = exchange.key
        exchangeOutcomes.withLock { $0.routing(key, now: .now) }
        guard let gate = (journal as? ClusterJournalWriter)?.batchGate() else {
            exchangeOutcomes.withLock { $0.finished(key, stored: true) }
            return mark(nil)
        }
        // Routed only once stored: the forwards and queue appends first.
        gate.afterOtherWrites { [self] stored in
            exchangeOutcomes.withLock { $0.finished(key, stored: stored) }
            logger.trace("exchange routed", metadata: ["exchange": "\(exchange.epoch).\(exchange.serial)", "stored": "\(stored)"])
            if stored { mark(gate) }
            gate.finished(ok: stored)
        }
    }

    public func sessionExchangeCompleted(clientId: String, epoch: UInt64, packetId: UInt16, journal: (any JournalWriter)?) {
        logger.trace("exchange completed", metadata: ["client": "\(clientId)", "packetId": "\(packetId)"])
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        changeClaimedRecord(clientId, epoch: epoch, gate: gate, strict: true) { record in
            guard var received = record.received, received.contains(where: { $0.packetId == packetId }) else { return }
            received.removeAll { $0.packetId == packetId }
            record.received = received.isEmpty ? nil : received
        }
    }

    enum RecordChange {
        case notClaimed, unchanged, written
    }

    /// Changes the record of the session claimed here at `epoch` and writes
    /// it (coalesced with other changes); `gate` waits for the write. A
    /// change that leaves the record as it was writes nothing, and nothing
    /// waits. `strict`: the gate fails if the write does (see `Waiter`).
    @discardableResult
    func changeClaimedRecord(
        _ clientId: String, epoch: UInt64, gate: ClusterCommitGate?, strict: Bool = false, _ change: (inout SessionRecord) -> Void
    ) -> RecordChange {
        let outcome = state.withLock { state -> RecordChange in
            guard var session = state.claimed[clientId], session.epoch == epoch else { return .notClaimed }
            let before = session.record
            change(&session.record)
            guard session.record != before else { return .unchanged }
            session.dirty = true
            if let gate {
                gate.add()
                session.waiting.append(Waiter(gate: gate, strict: strict))
            }
            state.claimed[clientId] = session
            return .written
        }
        if outcome == .written { writeRecord(clientId) }
        return outcome
    }

    public func sessionEnded(clientId: String, epoch: UInt64, kept: Bool, willHeld: Bool) {
        let (due, current) = state.withLock { state -> ((@Sendable () -> Void)?, Bool) in
            state.takeover.ended(clientId, epoch: epoch)
            guard var session = state.claimed[clientId], session.epoch == epoch else { return (nil, false) }
            let due = session.releaseDue
            session.release = nil
            session.releaseDue = nil
            session.ended = true
            // Released to another node: the record is that node's now.
            if due == nil {
                session.deleteRecord = !kept
                let sent = state.followers[clientId]?.session.highestSentInboxSequence ?? 0
                session.record.sentThrough = sent > 0 ? sent : nil
                session.record.ownership = session.record.ownership.disconnected
                session.record.disconnectedAt = WallClock.now().wallNow
                if !willHeld { session.record.will = nil }
                session.dirty = true
            }
            state.claimed[clientId] = session
            return (due, true)
        }
        // Its queue stays for the next connection, wherever that is, purged
        // up to what this one acknowledged; or goes with a session that
        // ended here (not one released to another node).
        if current { Task { await stopFollowing(clientId, sessionEnded: due == nil && !kept) } }
        due?()
        writeRecord(clientId)
    }

    public func sessionWillPublished(clientId: String) {
        changeOwnOfflineRecord(clientId) { record in
            guard record.will != nil else { return .keep }
            record.will = nil
            return .write
        }
    }

    /// The queue is emptied only once the record is gone: a connect
    /// elsewhere that took the session meanwhile keeps both.
    public func sessionExpired(clientId: String) {
        state.withLock { _ = $0.adopted.remove(clientId) }
        changeOwnOfflineRecord(clientId) { _ in
            .delete
        } deleted: { [self] in
            do {
                try await clearInbox(of: clientId)
            } catch {
                count(error: error)
            }
        }
    }

    enum OfflineRecordChange {
        case keep, write, delete
    }

    /// Changes the record of a session this run of the node holds offline
    /// (not claimed again since, here or elsewhere): read, changed, and
    /// written by CAS, so a connect that took it meanwhile wins.
    func changeOwnOfflineRecord(
        _ clientId: String, _ change: @escaping @Sendable (inout SessionRecord) -> OfflineRecordChange,
        deleted: (@Sendable () async -> Void)? = nil
    ) {
        guard let store = state.withLock({ $0.buckets?.sessions }) else { return }
        Task { [self] in
            guard let (found, revision) = try? await store.read(clientId), var record = found,
                record.ownership.owner == options.nodeName, record.ownerBoot == bootId, !record.ownership.connected,
                state.withLock({ $0.claimed[clientId] == nil })
            else { return }
            switch change(&record) {
            case .keep: return
            case .write: _ = await store.update(record, after: revision)
            case .delete: if await store.ended(clientId, revision: revision) { await deleted?() }
            }
        }
    }

    /// Writes the claimed record of `clientId` if it changed, one write at
    /// a time (each names the revision the last one made). A write that
    /// finds the record moved on stops: another node claimed the session,
    /// and asks this one to release it.
    func writeRecord(_ clientId: String) {
        enum Job {
            case update(SessionRecord, UInt64, SessionStore)
            case delete(UInt64, SessionStore)
        }
        let started = state.withLock { state -> (Job, UInt64)? in
            guard var session = state.claimed[clientId], !session.writing, let store = state.buckets?.sessions else { return nil }
            if !session.dirty {
                if session.ended { state.claimed[clientId] = nil }
                return nil
            }
            session.writing = true
            session.dirty = false
            session.inWrite = session.waiting
            session.waiting = []
            state.claimed[clientId] = session
            var record = session.record
            record.handedOver = session.replayed.snapshot ?? record.handedOver
            let job: Job = session.deleteRecord ? .delete(session.revision, store) : .update(record, session.revision, store)
            return (job, session.epoch)
        }
        guard let (job, epoch) = started else { return }
        Task {
            // Routes here follow the write at once: a SUBACK after it is
            // followed by messages appended to the queue from this node.
            let key = ClusterNames.key(for: clientId)
            let outcome: WriteOutcome
            switch job {
            case .update(let record, let revision, let store):
                switch await store.updateResult(record, after: revision) {
                case .success(let written):
                    applyInboxRoutes(key: key, record: record, revision: written)
                    outcome = .written(written)
                case .failure(let error):
                    outcome = await afterFailedWrite(clientId, epoch: epoch, error, store: store)
                }
            case .delete(let revision, let store):
                await store.ended(clientId, revision: revision)
                applyInboxRoutes(key: key, record: nil, revision: .max)
                outcome = .written(nil)
            }
            let (waiters, retryIn) = state.withLock { state -> ([Waiter], Duration?) in
                // A newer connect's claim replaced this one (and failed
                // its replies): what it writes is its own.
                guard var session = state.claimed[clientId], session.epoch == epoch else { return ([], nil) }
                session.writing = false
                var waiters: [Waiter] = []
                var retryIn: Duration?
                switch outcome {
                case .written(let written):
                    if let written { session.revision = written }
                    session.failedWrites = 0
                    waiters = session.inWrite
                case .retry(let revision):
                    // Written again, with what changed since: the replies
                    // wait for it (a PUBREL must not go before the record
                    // holds its delivery, or a crash sends it twice).
                    if let revision { session.revision = revision }
                    session.dirty = true
                    session.waiting = session.inWrite + session.waiting
                    session.failedWrites += 1
                    retryIn = .milliseconds(min(2_000, 50 << min(session.failedWrites, 6)))
                case .lost:
                    waiters = session.inWrite
                }
                session.inWrite = []
                state.claimed[clientId] = session
                return (waiters, retryIn)
            }
            // A SUBACK goes whether or not the record took it: the
            // subscription works here, and a record that moved on belongs
            // to a connect that replaces this one. A QoS 2 reply does not.
            let recorded = if case .written = outcome { true } else { false }
            for waiter in waiters { waiter.finished(written: recorded) }
            if let retryIn {
                connection.eventLoop.scheduleTask(in: .nanoseconds(retryIn.nanosecondsValue)) { [self] in writeRecord(clientId) }
            } else {
                writeRecord(clientId)
            }
        }
    }

    enum WriteOutcome {
        case written(UInt64?)
        /// Not written, and still this connection's to write: again, after
        /// `revision` when the failed write turned out to have landed.
        case retry(revision: UInt64?)
        /// Another connect owns the record now.
        case lost
    }

    /// A record write that did not land: an election (timeout, no
    /// responders) or a revision moved on. It was dropped until the next
    /// change before, and a timed-out write that did land left every later
    /// write failing on its revision, so a delivery past PUBREC went
    /// unrecorded and a crash sent it again (the chaos run). Now the record
    /// is read: still this epoch's, it is written again after its current
    /// revision; another connect's, the write is given up.
    private func afterFailedWrite(_ clientId: String, epoch: UInt64, _ error: KeyValueError, store: SessionStore) async -> WriteOutcome {
        count(error: error)
        guard !isStopped else { return .lost }
        guard let (current, revision) = try? await store.read(clientId) else { return .retry(revision: nil) }
        guard let current, current.ownership.epoch == epoch, current.ownership.owner == options.nodeName else { return .lost }
        return .retry(revision: revision)
    }

    /// At start: the offline sessions this node restored from its local log
    /// whose records name another node went there while this node was down.
    /// Their copies here go, or they would keep routes and queue messages
    /// nobody will collect. A session with no record (from before cluster
    /// sessions) stays. A delayed will restored here whose record still
    /// holds it is left to the record (`takeOrphanedWills`), so that it
    /// goes once.
    func dropSessionsTakenElsewhere() async {
        guard let broker = state.withLock({ $0.broker }), let store = state.withLock({ $0.buckets?.sessions }) else { return }
        let clientIds = broker.offlinePersistentClientIds
        guard !clientIds.isEmpty else { return }
        var dropped = 0
        // A few reads at a time: a restart with many sessions must not
        // flood NATS while the other nodes also start.
        for batch in stride(from: 0, to: clientIds.count, by: 32).map({ clientIds[$0..<min($0 + 32, clientIds.count)] }) {
            let elsewhere = await withTaskGroup(of: String?.self) { group in
                for clientId in batch {
                    group.addTask { [self] in
                        guard let record = try? await store.read(clientId).record else { return nil }
                        guard record.ownership.owner == options.nodeName else { return clientId }
                        // Ours from an earlier run: a will it held back is
                        // the record's now, taken by CAS like any orphan's.
                        if record.ownerBoot != bootId, record.will != nil { broker.dropPendingWill(clientId) }
                        return nil
                    }
                }
                var elsewhere: [String] = []
                for await clientId in group { if let clientId { elsewhere.append(clientId) } }
                return elsewhere
            }
            for clientId in elsewhere where state.withLock({ $0.claimed[clientId] == nil }) {
                broker.forgetSession(clientId)
                dropped += 1
            }
        }
        if dropped > 0 { logger.info("dropped sessions other nodes took while this one was down", metadata: ["sessions": "\(dropped)"]) }
    }

    /// At a clean stop: the records the last connections' ends wrote are
    /// in before the lease is withdrawn, so no node takes their wills
    /// again (this node published them as it closed the connections).
    func finishRecordWrites(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline,
            state.withLock({ state in state.claimed.values.contains { $0.writing || ($0.dirty && $0.ended) } })
        {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Whether this node's lease may have lapsed for the others soon: it
    /// then delivers no session and claims none.
    func isSelfFenced(_ state: State) -> Bool {
        guard let renewed = state.leaseRenewedAt else { return true }
        return ContinuousClock.now - renewed >= selfFenceAfter
    }

    /// Closes every connection of a session claimed here if the lease was
    /// not renewed in time (run with each renewal). Their records stay as
    /// they are: they may be taken over once the lease lapses, and no
    /// sooner, so that no client is delivered by two nodes.
    func selfFence() {
        let releases = state.withLock { state -> [ClusterSessionRelease] in
            guard isSelfFenced(state), state.buckets != nil else { return [] }
            var releases: [ClusterSessionRelease] = []
            for (clientId, session) in state.claimed {
                if let release = session.release { releases.append(release) }
                state.claimed[clientId]?.release = nil
                state.takeover.ended(clientId, epoch: session.epoch)
            }
            return releases
        }
        guard !releases.isEmpty else { return }
        logger.warning(
            "cluster lease not renewed: closing this node's persistent sessions before other nodes may take them",
            metadata: ["connections": "\(releases.count)"])
        for release in releases { release(.leaseLost) {} }
    }
}
