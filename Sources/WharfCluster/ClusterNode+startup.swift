import NIOCore
import WharfNATS

/// The readers and timers `run` starts once the assets are in place.
extension ClusterNode {
    func startWatchers(_ buckets: Buckets) async throws {
        let nodes = followNodes(buckets.nodes)
        let routes = followRoutes(buckets.routes)
        let retained = followRetained(buckets.retained)
        state.withLock { $0.watchers = [nodes, routes, retained] }
        // Leases first: routes of nodes already known live go straight in.
        try await nodes.start()
        renewLease()
        try await routes.start()
        try await retained.start()
    }

    func startTimers() {
        let loop = connection.eventLoop
        let renewal = TimeAmount.nanoseconds(max(options.lease.nanosecondsValue / 5, 200_000_000))
        let lease = loop.scheduleRepeatedTask(initialDelay: renewal, delay: renewal) { [self] _ in renewLease() }
        let retry = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in reannounce() }
        let janitor = loop.scheduleRepeatedTask(initialDelay: .seconds(10), delay: .seconds(10)) { [self] _ in
            purgeExpiredRetained()
            purgeRoutesOfGoneNodes()
        }
        let stopped = state.withLock { state in
            state.timers += [lease, retry, janitor]
            return state.stopped
        }
        if stopped {
            for timer in [lease, retry, janitor] { timer.cancel() }
        }
    }
}
