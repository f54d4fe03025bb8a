import WharfCore
import WharfNATS

/// Persistent sessions whose node is gone (docs/cluster.md, "Sessions
/// whose node is gone"). A session is expired, and its backlog reported,
/// by the node that holds it offline; when that node dies (or stops, or
/// restarts as another run) nobody did either, so its record and queue
/// waited for the client forever and no node counted its backlog. Any
/// node may now adopt such a session: a CAS writes the record as this
/// node's and offline, so exactly one node wins, and that node keeps an
/// offline copy that expires and reports like one of its own.
extension ClusterNode {
    /// Adoptions started at most per lease renewal: a node that dies with
    /// many offline sessions must not flood NATS from every other node at
    /// once (the rest wait for the next renewals).
    static let adoptionsPerRound = 64

    /// Whether no run may hold a session whose record names `owner` and
    /// `boot` (`ownerMayHold`), or its node withdrew its lease: a clean
    /// stop published its wills, but its offline copies went with it. A
    /// will still in the record is `takeOrphanedWills`' first.
    func ownerIsGone(_ owner: String, boot: String?, _ state: State, now: ContinuousClock.Instant) -> Bool {
        if owner != options.nodeName, state.withdrawn.contains(owner) { return true }
        return !ownerMayHold(owner, boot: boot, state, now: now)
    }

    /// Adopts the sessions whose owners are gone (run with each lease renewal).
    func adoptOrphanedSessions() {
        guard options.adoptsOrphanedSessions else { return }
        let now = ContinuousClock.now
        let (orphans, store) = state.withLock { state -> ([String], SessionStore?) in
            guard state.sessionsLoaded, state.readiness.leasesLoaded, let store = state.buckets?.sessions, !isSelfFenced(state)
            else { return ([], nil) }
            let orphans = state.recordsByOwner.records(
                ofGoneRuns: { ownerIsGone($0.owner, boot: $0.boot, state, now: now) }, limit: Self.adoptionsPerRound
            ) { key, clientId in !state.adopting.contains(key) && state.claimed[clientId] == nil }
            for (key, _) in orphans { state.adopting.insert(key) }
            return (orphans.map(\.clientId), store)
        }
        guard let store else { return }
        for clientId in orphans {
            Task { [self] in
                await adopt(clientId, store: store)
                state.withLock { _ = $0.adopting.remove(ClusterNames.key(for: clientId)) }
            }
        }
    }

    /// Reads `clientId`'s record again and, if its owner is still gone,
    /// writes it as this node's, offline; then keeps the offline copy (or
    /// ends the session, if its expiry already passed). A lost CAS changes
    /// nothing: the watch brings the record as it is now.
    func adopt(_ clientId: String, store: SessionStore) async {
        guard let (found, revision) = try? await store.read(clientId), var record = found, record.will == nil else { return }
        let gone = state.withLock { state in
            state.claimed[clientId] == nil
                && ownerIsGone(record.ownership.owner, boot: record.ownerBoot, state, now: ContinuousClock.now)
        }
        guard gone else { return }
        let previous = record.ownership.owner
        let wallNow = WallClock.now().wallNow
        if record.ownership.connected {
            // Its connection went with its node: everything its queue
            // holds now may have been sent (the next connection sends it
            // with DUP), and the session expires from now.
            let last = try? await jetStream.directGetLast(
                SessionInbox.stream, subject: SessionInbox.subject(for: clientId), timeout: cleanReadTimeout)
            record.sentThrough = last.map(\.sequence)
            record.disconnectedAt = wallNow
        }
        record.ownership.owner = options.nodeName
        record.ownership = record.ownership.disconnected
        record.ownerBoot = bootId
        let since = record.disconnectedAt ?? wallNow
        var expiresIn: UInt64?
        if record.expiryInterval != UInt32.max {
            let end = since &+ UInt64(record.expiryInterval) * 1_000_000_000
            expiresIn = end > wallNow ? end - wallNow : 0
        }
        if expiresIn == 0 {
            guard await store.ended(clientId, revision: revision) else { return }
            do {
                try await clearInbox(of: clientId)
            } catch {
                count(error: error)
            }
            logger.info("ended the expired session of a node that is gone", metadata: ["client": "\(clientId)", "node": "\(previous)"])
            return
        }
        guard await store.update(record, after: revision) != nil, let broker = state.withLock({ $0.broker }) else { return }
        state.withLock { _ = $0.adopted.insert(clientId) }
        broker.adoptClusterSession(
            clientId: clientId, expiryInterval: record.expiryInterval, expiresInNanos: expiresIn,
            shared: record.subscriptions.compactMap { kept in
                guard kept.filter.hasPrefix("$share/"), let request = kept.packet else { return nil }
                return ClusterSessionSubscription(request, identifier: kept.identifier)
            })
        // A restarted run of the last owner may hold a copy from its local
        // log: it goes, as it would for a claim.
        if previous != options.nodeName {
            askToRelease(previous, ReleaseRequest(session: clientId, epoch: record.ownership.epoch))
        }
        logger.info("adopted the offline session of a node that is gone", metadata: ["client": "\(clientId)", "node": "\(previous)"])
    }
}
