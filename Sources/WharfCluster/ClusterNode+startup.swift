import NIOCore
import WharfNATS

/// The readers and timers `run` starts once the assets are in place.
extension ClusterNode {
    /// Starts the inbox and the three bucket watchers side by side (each
    /// create may need tries, see `JetStreamOrderedConsumer.createTimeout`,
    /// so one after the other would add them up); returns once all exist.
    func startReaders(inbox: JetStreamOrderedConsumer, _ buckets: Buckets) async {
        let watchers = [
            followNodes(buckets.nodes), followRoutes(buckets.routes), followRetained(buckets.retained),
            followSessions(buckets.sessions.bucket),
        ]
        state.withLock { $0.watchers = watchers }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await inbox.run()
                // Announced live only once the inbox reads: it starts at
                // new forwards, so none may be sent here before it exists.
                if !isStopped { renewLease() }
            }
            for watcher in watchers { group.addTask { await watcher.start() } }
        }
    }

    func startTimers() {
        let loop = connection.eventLoop
        let renewal = TimeAmount.nanoseconds(max(options.lease.nanosecondsValue / 5, 200_000_000))
        let lease = loop.scheduleRepeatedTask(initialDelay: renewal, delay: renewal) { [self] _ in
            selfFence()
            renewLease()
            takeOrphanedWills()
            adoptOrphanedSessions()
        }
        let retry = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in reannounce() }
        let janitor = loop.scheduleRepeatedTask(initialDelay: .seconds(10), delay: .seconds(10)) { [self] _ in
            purgeExpiredRetained()
            purgeRoutesOfGoneNodes()
        }
        let deletes = loop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { [self] _ in
            deleteAcknowledged()
        }
        let backlogs = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(2)) { [self] _ in
            refreshOfflineBacklogs()
            refreshGroupBacklogs()
        }
        let timers = [lease, retry, janitor, deletes, backlogs]
        let stopped = state.withLock { state in
            state.timers += timers
            return state.stopped
        }
        if stopped {
            for timer in timers { timer.cancel() }
        }
    }
}
