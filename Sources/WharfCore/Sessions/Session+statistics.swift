import Synchronization
import WharfMQTT

/// What the metrics snapshot reads of a session, and its latency trackers.
extension Session {
    /// Queue figures and whether a client is attached, read together.
    public var statistics: (online: Bool, queue: QueueFigures, client: ClientInfo?) {
        state.withLock { state in
            // Offline in cluster mode, most of its queue may be in the
            // cluster only: reported from there (`setClusterBacklog`).
            if state.owner == nil, let backlog = state.clusterBacklog {
                return (false, state.outbound.figures(clusterBacklog: backlog.count, oldestNanos: backlog.oldestNanos), nil)
            }
            return (state.owner != nil, state.outbound.figures, state.owner?.clientInfo)
        }
    }

    /// The queue's latency trackers (copied under their lock, read outside it).
    public var latency: (deliver: LatencyTracker, acknowledge: LatencyTracker) {
        latencyTrackers.withLock { ($0.deliver, $0.acknowledge) }
    }

    /// Records a batch of this queue's latencies: publish times of the copies
    /// written, and of those acknowledged, against `now`. The owner calls it
    /// once per flush. A lock of its own, so the queue's lock (which every
    /// publisher to this session takes) is not held any longer for metrics.
    public func recordLatency(delivered: [UInt64], acknowledged: [UInt64], now: UInt64) {
        latencyTrackers.withLock { trackers in
            trackers.deliver.record(since: delivered, now: now)
            trackers.acknowledge.record(since: acknowledged, now: now)
        }
    }
    public var inflightCount: Int { state.withLock { $0.outbound.inflightCount } }
}
