import Foundation
import NIOCore
import WharfCore
import WharfNATS

/// Wills whose node died (docs/cluster.md, "Wills across nodes"). Every
/// node follows `wharf_sessions` for records that carry a will: connected
/// ones, and offline ones whose owner holds the will back for its delay.
/// When such a record's owner is gone (its lease lapsed, or it came back as
/// another run), any node may take the will: a CAS writes the record
/// offline without it, so exactly one node wins, and that node publishes
/// the will when its delay ends, unless the client reconnected first.
extension ClusterNode {
    /// A connected record with a will, as the sessions watch read it.
    struct HeldWill: Sendable {
        var record: SessionRecord
        var revision: UInt64
        /// A take of it is on its way from this node.
        var taking = false
    }

    func followSessions(_ bucket: KeyValueBucket) -> KeyValueWatcher {
        KeyValueWatcher(
            bucket: bucket, onCaughtUp: { [self] in state.withLock { $0.sessionsLoaded = true } },
            onProblem: { [self] in noteProblem($0) }
        ) { [self] entry in sessionRecordChanged(entry) }
    }

    private func sessionRecordChanged(_ entry: KeyValueEntry) {
        var held: HeldWill?
        var record: SessionRecord?
        if entry.operation == .put, case .success(let decoded) = SessionRecord.decode(entry.value) { record = decoded }
        if let record, record.will != nil, record.ownership.connected || record.disconnectedAt != nil {
            held = HeldWill(record: record, revision: entry.revision)
        }
        let run = record.map { RecordsByOwner.Run(owner: $0.ownership.owner, boot: $0.ownerBoot) }
        state.withLock { state in
            state.heldWills[entry.key] = held
            state.willsByOwner.set(entry.key, clientId: record?.clientId ?? "", run: held == nil ? nil : run)
            state.recordsByOwner.set(entry.key, clientId: record?.clientId ?? "", run: record?.will == nil ? run : nil)
        }
        applyInboxRoutes(key: entry.key, record: record, revision: entry.revision)
        // After the routes: a revision read here is in `inboxRoutes`.
        state.withLock { $0.sessionsWatchRevision = max($0.sessionsWatchRevision, entry.revision) }
        if let record, record.ownership.owner != options.nodeName { dropCopyOfSessionOwnedElsewhere(record.clientId) }
    }

    /// A record now another node's, of a session this node keeps offline
    /// and has not claimed: the copy here is stale, and goes (as for a
    /// release request). The node that took the session asks the owner it
    /// read to release it; a copy kept by some other node was missed. A
    /// chaos run had one: a node whose record write lost its CAS (another
    /// node adopted the session) closed the connection and kept the session
    /// offline, holding a QoS 2 group entry past PUBREC (kept alive with
    /// +WPI) that no member got again.
    private func dropCopyOfSessionOwnedElsewhere(_ clientId: String) {
        guard let broker = state.withLock({ $0.claimed[clientId] == nil ? $0.broker : nil }), broker.forgetSession(clientId)
        else { return }
        state.withLock { _ = $0.adopted.remove(clientId) }
        logger.debug("dropped the offline copy of a session another node owns", metadata: ["client": "\(clientId)"])
    }

    /// Whether the run that wrote `record` may still hold its connection:
    /// the owner's lease is live under the same boot. A node never seen
    /// counts as live for the first lease of this node's run (its lease may
    /// just not have been read yet); one that withdrew its lease stopped
    /// cleanly and published its own wills.
    func ownerMayHold(_ record: SessionRecord, _ state: State, now: ContinuousClock.Instant) -> Bool {
        ownerMayHold(record.ownership.owner, boot: record.ownerBoot, state, now: now)
    }

    /// `ownerMayHold` for a record's owner and the boot id it names.
    func ownerMayHold(_ owner: String, boot: String?, _ state: State, now: ContinuousClock.Instant) -> Bool {
        if owner == options.nodeName { return boot == nil || boot == bootId }
        if state.withdrawn.contains(owner) { return true }
        guard let lease = state.nodes[owner] else { return now - startedAtInstant < options.lease * 2 }
        guard leaseAge(lease, state, now: now) < options.lease else { return false }
        return boot == nil || boot == lease.announcement.bootId
    }

    /// Takes the wills whose owners are gone (run with each lease renewal).
    func takeOrphanedWills() {
        let now = ContinuousClock.now
        let (orphans, store) = state.withLock { state -> ([(String, HeldWill)], SessionStore?) in
            guard state.sessionsLoaded, state.readiness.leasesLoaded, let store = state.buckets?.sessions, !isSelfFenced(state)
            else { return ([], nil) }
            let gone = state.willsByOwner.records(ofGoneRuns: { !ownerMayHold($0.owner, boot: $0.boot, state, now: now) }) { key, _ in
                state.heldWills[key]?.taking == false
            }
            var orphans: [(String, HeldWill)] = []
            for (key, _) in gone {
                guard let held = state.heldWills[key] else { continue }
                state.heldWills[key]?.taking = true
                orphans.append((key, held))
            }
            return (orphans, store)
        }
        guard let store else { return }
        for (key, held) in orphans {
            Task { [self] in
                var offline = held.record
                if offline.ownership.connected {
                    offline.ownership = offline.ownership.disconnected
                    offline.disconnectedAt = WallClock.now().wallNow
                }
                offline.will = nil
                guard let written = await store.update(offline, after: held.revision), let will = held.record.will else {
                    // Lost the CAS (another node took it, or the client came
                    // back): the watch brings the record as it is now.
                    state.withLock { state in
                        if state.heldWills[key]?.revision == held.revision { state.heldWills[key]?.taking = false }
                    }
                    return
                }
                logger.info(
                    "took the will of a session whose node is gone",
                    metadata: ["client": "\(held.record.clientId)", "node": "\(held.record.ownership.owner)"])
                await publishTakenWill(will, of: offline, revision: written, after: willDelayLeft(held.record), store: store)
            }
        }
    }

    /// Seconds until a taken will is due: its delay (capped by the session
    /// expiry) from the disconnect the record names, or from now for a
    /// connection lost with its node.
    func willDelayLeft(_ record: SessionRecord, now: UInt64 = WallClock.now().wallNow) -> Double {
        guard let will = record.will else { return 0 }
        let delay = Double(min(will.delaySeconds, record.expiryInterval))
        guard !record.ownership.connected, let since = record.disconnectedAt else { return delay }
        let elapsed = now > since ? Double(now - since) / 1e9 : 0
        return max(0, delay - elapsed)
    }

    /// Publishes a will this node took, after `delay` seconds, unless the
    /// client connected again meanwhile (a claim raised the epoch).
    private func publishTakenWill(
        _ will: SessionRecord.Will, of record: SessionRecord, revision: UInt64, after delay: Double, store: SessionStore
    ) async {
        if delay > 0 {
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            if let now = try? await store.read(record.clientId).record, now.ownership.epoch != record.ownership.epoch {
                logger.debug("will cancelled: the client connected again", metadata: ["client": "\(record.clientId)"])
                return
            }
        }
        guard let message = will.message(), let broker = state.withLock({ $0.broker }) else { return }
        broker.publishWill(message)
    }

    /// A claim that waited out a gone owner's connection, which carried a
    /// will: due now if it had no delay (the claim's CAS made this node the
    /// only one that can see it so). One with a delay is cancelled, the
    /// client having connected again in time (5.0 section 3.1.3.2.2).
    func publishWillOfLostConnection(_ previous: SessionRecord?) {
        guard let previous, previous.ownership.connected, let will = previous.will, will.delaySeconds == 0 else { return }
        let (gone, broker) = state.withLock { state in (!ownerMayHold(previous, state, now: ContinuousClock.now), state.broker) }
        guard gone, let message = will.message() else { return }
        logger.info("publishing the will of a connection lost with its node", metadata: ["client": "\(previous.clientId)"])
        broker?.publishWill(message)
    }
}
