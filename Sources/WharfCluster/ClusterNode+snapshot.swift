import WharfCore
import WharfMetrics

/// The node's figures for the metrics snapshot (`MetricsSnapshot.cluster`).
extension ClusterNode {
    public func snapshot() -> ClusterSnapshot {
        let (ready, reason) = readiness
        let nats = connection.statistics
        let status = connection.status
        let server: String? = if case .connected(let address) = status { "\(address)" } else { nil }
        let live = liveNodes.map {
            ClusterNodeSnapshot(name: $0.name, metricsURL: $0.announcement.metricsURL, startedAtSeconds: $0.announcement.startedAtSeconds)
        }
        let remoteRoutes = state.withLock { $0.broker?.remoteRouteCount ?? 0 }
        let sessionRoutes = inboxRoutes.withLock { $0.routeCount }
        let groupRoutes = groupRoutes.withLock { $0.count }
        var snapshot = statistics.withLock { statistics in
            ClusterSnapshot(
                node: options.nodeName, bootId: bootId, ready: ready, notReadyReason: reason, liveNodes: live,
                durability: "replicated", replicas: options.replicas,
                nats: NATSLinkSnapshot(
                    connected: status.isConnected, server: server, reconnectsTotal: nats.reconnects,
                    roundTripSeconds: nats.roundTrip.map { Double($0.nanosecondsValue) / 1e9 }, pendingRequests: nats.pendingRequests,
                    lastError: nats.lastError),
                forwardedTotal: ["0": statistics.forwarded[0], "1": statistics.forwarded[1], "2": statistics.forwarded[2]],
                receivedTotal: statistics.received, forwardsPending: statistics.forwardsPending,
                forwardFailuresTotal: statistics.forwardFailures, remoteRoutes: remoteRoutes,
                jetStreamLatency: statistics.latency.snapshot(now: Clock.nowNanos()), errorsTotal: statistics.errors)
        }
        snapshot.sessionRoutes = sessionRoutes
        snapshot.groupRoutes = groupRoutes
        return snapshot
    }
}
