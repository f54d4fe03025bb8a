import NIOCore

/// `wharf top --cluster`: from the nodes given, every live node of their
/// cluster. One snapshot per given URL; its `cluster.liveNodes` carry each
/// node's metrics address (announced with its lease). Nodes that do not
/// answer, or are not in cluster mode, stay as given.
public enum ClusterDiscovery {
    /// The endpoints to watch: the given ones first, then the nodes their
    /// snapshots name, each once. Waits at most `timeout`.
    public static func endpoints(
        from given: [SnapshotEndpoint], access: SnapshotAccess, timeout: Duration = .seconds(3)
    ) async -> [SnapshotEndpoint] {
        let poller = SnapshotPoller(endpoints: given, interval: .seconds(10), access: access)
        poller.start()
        defer { poller.stop() }
        var answered: [Int: SnapshotPoller.Update] = [:]
        let deadline = ContinuousClock.now + timeout
        while answered.count < given.count, ContinuousClock.now < deadline {
            for (index, update) in poller.take() { answered[index] = update }
            try? await Task.sleep(for: .milliseconds(20))
        }
        var found = given
        for index in given.indices {
            guard case .snapshot(let snapshot)? = answered[index], let cluster = snapshot.cluster else { continue }
            for node in cluster.liveNodes {
                guard let url = node.metricsURL, let endpoint = try? SnapshotEndpoint(parsing: url),
                    !found.contains(where: { $0.host == endpoint.host && $0.port == endpoint.port })
                else { continue }
                found.append(endpoint)
            }
        }
        return found
    }
}
