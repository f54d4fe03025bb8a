import Synchronization
import WharfMetrics

/// Broker-wide publish-to-deliver and publish-to-acknowledge latency.
///
/// One shard per event loop (chosen by the connection's loop), each behind
/// its own mutex: connections record a whole batch under one uncontended
/// lock, and a snapshot merges the shards. Totals (count, sum, the
/// Prometheus buckets) never go down as connections and sessions come and go.
/// Quantiles come from a `LogLinearHistogram` (2 significant digits, 1 us to 1 h) over
/// the recent window, so they are exact to 1% rather than interpolated.
public final class LatencyRecorder: Sendable {
    public enum Kind: Sendable {
        /// From the publisher's PUBLISH being read to the copy being written to a subscriber.
        case publishToDeliver
        /// From the publisher's PUBLISH to the subscriber's PUBACK or PUBCOMP.
        case publishToAcknowledge
    }

    final class Shard: Sendable {
        let state: Mutex<ShardState>
        init(now: UInt64) { state = Mutex(ShardState(now: now)) }
    }

    struct ShardState: Sendable {
        var deliver: GlobalLatency
        var acknowledge: GlobalLatency
        init(now: UInt64) {
            deliver = GlobalLatency(now: now)
            acknowledge = GlobalLatency(now: now)
        }
    }

    private let shards: [Shard]

    public init(shardCount: Int = 8, now: UInt64 = Clock.nowNanos()) {
        shards = (0..<max(1, shardCount)).map { _ in Shard(now: now) }
    }

    /// The shard for a connection on the event loop identified by `loop`.
    public func shardIndex(for loop: ObjectIdentifier) -> Int {
        Int(UInt(bitPattern: loop.hashValue) % UInt(shards.count))
    }

    /// Records a batch of publish times (monotonic nanoseconds) against
    /// `now`: copies delivered and copies acknowledged, under one lock.
    public func record(delivered: [UInt64], acknowledged: [UInt64], now: UInt64, shard: Int) {
        guard !delivered.isEmpty || !acknowledged.isEmpty else { return }
        shards[shard].state.withLock { state in
            if !delivered.isEmpty { state.deliver.record(delivered, now: now) }
            if !acknowledged.isEmpty { state.acknowledge.record(acknowledged, now: now) }
        }
    }

    public func record(_ kind: Kind, publishedAt: [UInt64], now: UInt64, shard: Int) {
        switch kind {
        case .publishToDeliver: record(delivered: publishedAt, acknowledged: [], now: now, shard: shard)
        case .publishToAcknowledge: record(delivered: [], acknowledged: publishedAt, now: now, shard: shard)
        }
    }

    public func snapshot(_ kind: Kind, now: UInt64) -> LatencySnapshot {
        var total = LatencyHistogram()
        var window = PreciseDistribution()
        var windowSeconds = 0.0
        for shard in shards {
            shard.state.withLock { state in
                let latency = kind == .publishToDeliver ? state.deliver : state.acknowledge
                total.add(latency.total)
                let (recent, seconds) = latency.recent.reading(now: now)
                window.add(recent)
                windowSeconds = max(windowSeconds, seconds)
            }
        }
        let windowCount = Int(window.histogram.totalCount)
        return LatencySnapshot(
            count: total.count, sumSeconds: Double(total.sumNanos) / 1e9, buckets: total.cumulativeBuckets,
            windowSeconds: windowSeconds, windowCount: windowCount,
            p50: window.quantileSeconds(0.5), p90: window.quantileSeconds(0.9),
            p99: window.quantileSeconds(0.99), p999: window.quantileSeconds(0.999),
            max: windowCount > 0 ? Double(window.maxNanos) / 1e9 : nil
        )
    }
}

/// Log-linear counts in microseconds (see `LogLinearHistogram`), as a
/// distribution `RecentWindow` can rotate.
struct PreciseDistribution: MergeableDistribution {
    var histogram = LogLinearHistogram()
    var maxNanos: UInt64 = 0

    func emptied() -> PreciseDistribution { PreciseDistribution() }

    mutating func add(_ other: PreciseDistribution) {
        histogram.add(other.histogram)
        maxNanos = max(maxNanos, other.maxNanos)
    }

    func quantileSeconds(_ q: Double) -> Double? {
        guard let micros = histogram.valueAtQuantile(q) else { return nil }
        return min(Double(micros) / 1e6, Double(maxNanos) / 1e9)
    }
}

/// One latency kind in one shard: exact totals plus the precise recent window.
struct GlobalLatency: Sendable {
    var total = LatencyHistogram()
    var recent: RecentWindow<PreciseDistribution>

    init(now: UInt64) {
        recent = RecentWindow(PreciseDistribution(), periodNanos: LatencyWindow.periodNanos, now: now)
    }

    /// One pass: each value is computed once, then counted in the totals'
    /// bucket and the window's slot (two passes cost ~25 instructions a
    /// value more, on every delivery and acknowledgement).
    mutating func record(_ publishedAt: [UInt64], now: UInt64) {
        guard !publishedAt.isEmpty else { return }
        Self.record(publishedAt, now: now, total: &total, recent: &recent)
    }

    private static func record(
        _ publishedAt: [UInt64], now: UInt64, total: inout LatencyHistogram, recent: inout RecentWindow<PreciseDistribution>
    ) {
        recent.update(now: now) { window in
            var largest: UInt64 = 0
            total.withBatchRecorder { totals in
                window.histogram.withBatchRecorder { slots in
                    for start in publishedAt {
                        let nanos = now > start ? now &- start : 0
                        totals.record(nanos: nanos)
                        slots.record(nanos: nanos)
                        if nanos > largest { largest = nanos }
                    }
                }
            }
            if largest > window.maxNanos { window.maxNanos = largest }
        }
    }
}
