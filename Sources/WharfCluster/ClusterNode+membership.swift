import Foundation
import NIOCore
import WharfNATS

/// Leases: this node's announcement, renewed every fifth of the lease, and
/// the other nodes', whose lapse takes their routes out of the tree.
extension ClusterNode {
    func followNodes(_ bucket: KeyValueBucket) -> KeyValueWatcher {
        KeyValueWatcher(
            bucket: bucket, onCaughtUp: { [self] in state.withLock { $0.readiness.leasesLoaded = true } },
            onProblem: { [self] in noteProblem($0) }
        ) { [self] entry in nodeChanged(entry) }
    }

    private func nodeChanged(_ entry: KeyValueEntry) {
        let name = entry.key
        let storedAt = entry.created.map { Double($0.secondsSinceEpoch) + Double($0.nanoseconds) / 1e9 } ?? Date().timeIntervalSince1970
        state.withLock { $0.leaseReach = max($0.leaseReach, storedAt) }
        guard name != options.nodeName else { return }
        guard entry.operation == .put,
            let announcement = try? JSONDecoder().decode(NodeAnnouncement.self, from: Data(entry.value.readableBytesView))
        else {
            // Withdrawn (a clean stop): gone now, not after the lease.
            state.withLock { state in
                state.nodes.removeValue(forKey: name)
                state.withdrawn.insert(name)
            }
            setRouted(name, live: false)
            return
        }
        // How long ago the server stored it: an old entry read at start
        // must not make a dead node look alive for a whole lease.
        let age = max(0, Date().timeIntervalSince1970 - storedAt)
        let seenAt = ContinuousClock.now - .milliseconds(Int64(min(age, 3_600) * 1000))
        let live = ContinuousClock.now - seenAt < options.lease
        state.withLock { state in
            state.nodes[name] = NodeLease(announcement: announcement, seenAt: seenAt, storedAt: storedAt)
            state.withdrawn.remove(name)
        }
        if live { setRouted(name, live: true) }
    }

    /// Renews this node's lease (every lease / 5).
    ///
    /// A lapsed lease does not take the node's routes out of the tree: a
    /// NATS leader election stops every node's renewals for seconds, and
    /// treating them all as dead then dropped their subscribers' messages
    /// (acknowledged, as "no subscriber"). Forwarding to a node that really
    /// died costs a copy in `WHARF_N` until its two minutes are up; its
    /// routes go when it withdraws its lease, or when the janitor removes
    /// them after `routeGrace`.
    func renewLease() {
        guard let bucket = state.withLock({ $0.buckets?.nodes }) else { return }
        let announcement = NodeAnnouncement(
            bootId: bootId, metricsURL: state.withLock { $0.metricsURL } ?? options.metricsURL,
            startedAtSeconds: startedAt.timeIntervalSince1970)
        guard let json = try? JSONEncoder().encode(announcement) else { return }
        // The time it was sent, not acknowledged: no node can have seen the
        // renewal before it was sent, so their view of the lease never ends
        // before this one's (the self-fence counts on that).
        let sentAt = ContinuousClock.now
        bucket.write(options.nodeName, ByteBuffer(bytes: json)) { [self] result in
            switch result {
            case .success:
                state.withLock { state in state.leaseRenewedAt = max(state.leaseRenewedAt ?? sentAt, sentAt) }
            case .failure(let error):
                count(error: error)
                noteProblem("lease not renewed: \(error)")
            }
        }
    }

    /// How long `lease` has not been renewed, as far as this node's watch
    /// of the leases can tell (`NodeLease.age`).
    func leaseAge(_ lease: NodeLease, _ state: State, now: ContinuousClock.Instant) -> Duration {
        lease.age(now: now, reach: state.leaseReach)
    }

    /// The live nodes, this one first.
    var liveNodes: [(name: String, announcement: NodeAnnouncement)] {
        let mine = NodeAnnouncement(
            bootId: bootId, metricsURL: state.withLock { $0.metricsURL } ?? options.metricsURL,
            startedAtSeconds: startedAt.timeIntervalSince1970)
        let others = state.withLock { state in
            let now = ContinuousClock.now
            return state.nodes.filter { leaseAge($0.value, state, now: now) < options.lease }.map { ($0.key, $0.value.announcement) }
        }
        return [(options.nodeName, mine)] + others.sorted { $0.0 < $1.0 }
    }
}

extension ClusterNode {
    /// Where this node's metrics answer, once its listener has bound; the
    /// next renewal announces it.
    public func setMetricsURL(_ url: String) {
        state.withLock { $0.metricsURL = url }
        renewLease()
    }
}
