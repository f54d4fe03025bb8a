/// A latency distribution in fixed buckets: cheap enough to keep one per
/// queue (23 counters), and the bucket bounds are the `le` values the
/// Prometheus exporter publishes, so those counts are exact.
///
/// Quantiles from it are interpolated inside a bucket, as Prometheus's
/// `histogram_quantile` does, and never exceed the largest value recorded.
/// The broker-wide figures use `LogLinearHistogram` (within 1%) instead; this
/// type is for the per-queue ones, where 1,000 queues must stay small.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in seconds: 10 us to 5 min, roughly 1-2.5-5 per decade.
    /// Below 100 us because that is where Wharf delivers: with 100 us as the
    /// first bound, 94-97% of deliveries fell in it and a Prometheus p50 was
    /// pure interpolation. (Three more bounds cost three lines per histogram
    /// in /metrics, see docs/performance.md.)
    public static let boundsSeconds: [Double] = [
        0.00001, 0.000025, 0.00005,
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
    ]
    static let boundsNanos: [UInt64] = boundsSeconds.map { UInt64(($0 * 1e9).rounded()) }

    /// One count per bound, plus the last for values above every bound (+Inf).
    public private(set) var counts: [Int]
    public private(set) var count = 0
    public private(set) var sumNanos: UInt64 = 0
    public private(set) var maxNanos: UInt64 = 0

    /// Counts are allocated at the first value: an idle connection's session
    /// keeps two of these, and 10,000 idle connections should not pay for them.
    public init() {
        counts = []
    }

    private static let slotCount = boundsNanos.count + 1

    @inline(__always)
    private mutating func allocateCounts() {
        if counts.isEmpty { counts = Array(repeating: 0, count: Self.slotCount) }
    }

    /// The counts, all slots present (zeros when nothing was recorded).
    private var allCounts: [Int] { counts.isEmpty ? Array(repeating: 0, count: Self.slotCount) : counts }

    public static func == (lhs: LatencyHistogram, rhs: LatencyHistogram) -> Bool {
        lhs.count == rhs.count && lhs.sumNanos == rhs.sumNanos && lhs.maxNanos == rhs.maxNanos && lhs.allCounts == rhs.allCounts
    }

    public var isEmpty: Bool { count == 0 }

    public mutating func record(nanos: UInt64) {
        allocateCounts()
        counts[Self.bucketIndex(nanos)] += 1
        count += 1
        sumNanos &+= nanos
        if nanos > maxNanos { maxNanos = nanos }
    }

    /// Records values through unsafe pointers for the duration of `body`,
    /// so a caller can count each value here and elsewhere in one loop.
    public mutating func withBatchRecorder<R>(_ body: (inout BatchRecorder) -> R) -> R {
        allocateCounts()
        var sum = sumNanos
        var largest = maxNanos
        var recorded = 0
        let result = counts.withUnsafeMutableBufferPointer { counts in
            Self.boundsNanos.withUnsafeBufferPointer { bounds in
                Self.byBitLength.withUnsafeBufferPointer { byLength in
                    var recorder = BatchRecorder(counts: counts, bounds: bounds, byLength: byLength)
                    defer {
                        sum &+= recorder.sum
                        largest = max(largest, recorder.largest)
                        recorded = recorder.recorded
                    }
                    return body(&recorder)
                }
            }
        }
        count += recorded
        sumNanos = sum
        maxNanos = largest
        return result
    }

    /// See `withBatchRecorder`.
    /// Inlinable: it runs once per value from the broker's module.
    public struct BatchRecorder {
        @usableFromInline let counts: UnsafeMutableBufferPointer<Int>
        @usableFromInline let bounds: UnsafeBufferPointer<UInt64>
        @usableFromInline let byLength: UnsafeBufferPointer<Int>
        @usableFromInline var sum: UInt64 = 0
        @usableFromInline var largest: UInt64 = 0
        @usableFromInline var recorded = 0

        init(counts: UnsafeMutableBufferPointer<Int>, bounds: UnsafeBufferPointer<UInt64>, byLength: UnsafeBufferPointer<Int>) {
            self.counts = counts
            self.bounds = bounds
            self.byLength = byLength
        }

        @inlinable @inline(__always)
        public mutating func record(nanos: UInt64) {
            let candidate = byLength[64 - nanos.leadingZeroBitCount]
            let index = candidate < bounds.count && nanos > bounds[candidate] ? candidate + 1 : candidate
            counts[index] &+= 1
            sum &+= nanos
            if nanos > largest { largest = nanos }
            recorded &+= 1
        }
    }

    /// Records `now - start` for each start, in one pass over the counts
    /// (one uniqueness check and one lookup of the bucket tables per batch,
    /// not per value: the per-value `record` was most of what metrics cost
    /// per delivery).
    public mutating func record(startedAt starts: [UInt64], now: UInt64) {
        guard !starts.isEmpty else { return }
        allocateCounts()
        let bounds = Self.boundsNanos
        let byLength = Self.byBitLength
        var sum = sumNanos
        var largest = maxNanos
        counts.withUnsafeMutableBufferPointer { counts in
            for start in starts {
                let nanos = now > start ? now &- start : 0
                let candidate = byLength[64 - nanos.leadingZeroBitCount]
                let index = candidate < bounds.count && nanos > bounds[candidate] ? candidate + 1 : candidate
                counts[index] += 1
                sum &+= nanos
                if nanos > largest { largest = nanos }
            }
        }
        count += starts.count
        sumNanos = sum
        maxNanos = largest
    }

    public mutating func add(_ other: LatencyHistogram) {
        if !other.counts.isEmpty {
            allocateCounts()
            for index in counts.indices { counts[index] += other.counts[index] }
        }
        count += other.count
        sumNanos &+= other.sumNanos
        maxNanos = max(maxNanos, other.maxNanos)
    }

    /// First bucket whose bound is at or above the value, in O(1): consecutive
    /// bounds are at least 2x apart, so the values with a given bit length
    /// ([2^(L-1), 2^L)) straddle at most one bound. `byBitLength[L]` holds
    /// that bound's index, or the first bucket past the range.
    @inline(__always)
    static func bucketIndex(_ nanos: UInt64) -> Int {
        let candidate = byBitLength[64 - nanos.leadingZeroBitCount]
        return candidate < boundsNanos.count && nanos > boundsNanos[candidate] ? candidate + 1 : candidate
    }

    private static let byBitLength: [Int] = (0...64).map { length in
        // The smallest bucket that can hold a value of this bit length.
        let lowest: UInt64 = length == 0 ? 0 : 1 << (length - 1)
        return boundsNanos.firstIndex { $0 >= lowest } ?? boundsNanos.count
    }

    /// Cumulative counts per bound, ending with +Inf (which equals `count`).
    public var cumulativeBuckets: [LatencyBucket] {
        var running = 0
        var result: [LatencyBucket] = []
        result.reserveCapacity(Self.slotCount)
        for (index, bucketCount) in allCounts.enumerated() {
            running += bucketCount
            let bound = index < Self.boundsSeconds.count ? Self.boundsSeconds[index] : Double.infinity
            result.append(LatencyBucket(le: bound, count: running))
        }
        return result
    }

    /// The q-quantile (0...1) in seconds, or nil when nothing was recorded.
    public func quantileSeconds(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let maxSeconds = Double(maxNanos) / 1e9
        let rank = q * Double(count)
        var below = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            if Double(below + bucketCount) >= rank {
                let lower = index == 0 ? 0 : Self.boundsSeconds[index - 1]
                let upper = index < Self.boundsSeconds.count ? Self.boundsSeconds[index] : maxSeconds
                let fraction = max(0, rank - Double(below)) / Double(bucketCount)
                return min(maxSeconds, lower + (upper - lower) * fraction)
            }
            below += bucketCount
        }
        return maxSeconds
    }
}

/// One cumulative bucket: how many values were at or below `le` seconds.
public struct LatencyBucket: Codable, Sendable, Equatable {
    public var le: Double
    public var count: Int

    public init(le: Double, count: Int) {
        self.le = le
        self.count = count
    }

    // JSON has no infinity: the last bound is written as the string "+Inf",
    // the spelling Prometheus uses.
    enum CodingKeys: String, CodingKey { case le, count }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try? container.decode(String.self, forKey: .le), text == "+Inf" {
            le = .infinity
        } else {
            le = try container.decode(Double.self, forKey: .le)
        }
        count = try container.decode(Int.self, forKey: .count)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if le.isInfinite { try container.encode("+Inf", forKey: .le) } else { try container.encode(le, forKey: .le) }
        try container.encode(count, forKey: .count)
    }
}

/// A latency figure as the snapshot reports it.
///
/// `count`, `sumSeconds` and `buckets` are totals since the broker started
/// (what Prometheus needs for `rate()` and `histogram_quantile`). The
/// quantiles and `max` cover only the recent window (`windowSeconds`), so a
/// dashboard shows what latency is now, not an average over the uptime;
/// they are absent when nothing was recorded in that window.
public struct LatencySnapshot: Codable, Sendable, Equatable {
    public var count: Int
    public var sumSeconds: Double
    /// Cumulative buckets since start; only on the broker-wide figures.
    public var buckets: [LatencyBucket]?
    public var windowSeconds: Double
    public var windowCount: Int
    public var p50: Double?
    public var p90: Double?
    public var p99: Double?
    public var p999: Double?
    public var max: Double?

    public init(
        count: Int, sumSeconds: Double, buckets: [LatencyBucket]?, windowSeconds: Double, windowCount: Int,
        p50: Double?, p90: Double?, p99: Double?, p999: Double?, max: Double?
    ) {
        self.count = count
        self.sumSeconds = sumSeconds
        self.buckets = buckets
        self.windowSeconds = windowSeconds
        self.windowCount = windowCount
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }
}
