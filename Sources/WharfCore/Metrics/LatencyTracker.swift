import WharfMetrics

/// How long recent-window quantiles look back: between one and two of these.
public enum LatencyWindow {
    public static let periodNanos: UInt64 = 30_000_000_000
}

/// One queue's latency: totals since the queue was created, and the recent
/// window its quantiles come from. Lives inside `OutboundQueue`, under the
/// session lock that is already held when a message is sent or acknowledged,
/// so recording costs no extra lock and no allocation.
public struct LatencyTracker: Sendable {
    /// Totals since the queue was created (a summary's `_count` and `_sum`).
    public private(set) var count = 0
    private var sumNanos: UInt64 = 0
    private var recent: RecentWindow<LatencyHistogram>

    public init(now: UInt64) {
        recent = RecentWindow(LatencyHistogram(), periodNanos: LatencyWindow.periodNanos, now: now)
    }

    /// Records a batch: the window is checked for rotation once.
    public mutating func record(since publishedTimes: [UInt64], now: UInt64) {
        guard !publishedTimes.isEmpty else { return }
        var added: UInt64 = 0
        recent.update(now: now) { window in
            let before = window.sumNanos
            window.record(startedAt: publishedTimes, now: now)
            added = window.sumNanos &- before
        }
        sumNanos &+= added
        count += publishedTimes.count
    }

    public mutating func record(since publishedAt: UInt64, now: UInt64) {
        let nanos = now > publishedAt ? now - publishedAt : 0
        count += 1
        sumNanos &+= nanos
        recent.update(now: now) { $0.record(nanos: nanos) }
    }

    public func snapshot(now: UInt64) -> LatencySnapshot {
        let (window, seconds) = recent.reading(now: now)
        return LatencySnapshot(
            count: count, sumSeconds: Double(sumNanos) / 1e9, buckets: nil,
            windowSeconds: seconds, windowCount: window.count,
            p50: window.quantileSeconds(0.5), p90: window.quantileSeconds(0.9),
            p99: window.quantileSeconds(0.99), p999: window.quantileSeconds(0.999),
            max: window.isEmpty ? nil : Double(window.maxNanos) / 1e9
        )
    }
}
