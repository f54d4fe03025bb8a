/// Latency counts in HdrHistogram's layout at two significant digits, in
/// microseconds: values below 256 us have a bucket each, and each doubling
/// above that is split into 128 equal buckets, so a value is known to within
/// 1% (1 us to one hour, longer values counted as one hour).
///
/// Written here instead of using hdrhistogram-swift's `Histogram` because the
/// broker records every delivery and every acknowledgement into one of these:
/// a batch is recorded in one pass over raw counts, ~15 instructions a value,
/// where `Histogram.record` took ~75 (a checked index, a uniqueness check and
/// min/max per value). That difference alone was a third of what metrics cost
/// per QoS 1 message (docs/performance.md). Quantiles are what
/// `Histogram.valueAtPercentile` gives: the highest value of the bucket that
/// holds the rank.
struct LogLinearHistogram: Sendable, Equatable {
    /// Half a doubling's buckets: 2^7, for two significant digits.
    static let halfMagnitude = 7
    static let highestMicros: UInt64 = 3_600_000_000
    /// Buckets up to `highestMicros`: bucket 0 holds 0-255, bucket b >= 1 holds
    /// [128 << b, 256 << b) in 128 steps.
    static let slotCount = (index(micros: highestMicros) | 127) + 1

    private(set) var counts: [UInt64] = Array(repeating: 0, count: LogLinearHistogram.slotCount)
    private(set) var totalCount: UInt64 = 0

    @inline(__always)
    static func index(micros: UInt64) -> Int {
        let bucket = max(0, 64 - (micros | 255).leadingZeroBitCount - 8)
        return (bucket << halfMagnitude) + Int(truncatingIfNeeded: micros >> UInt64(bucket))
    }

    /// The highest value (microseconds) that falls in `slot`.
    static func highestMicros(inSlot slot: Int) -> UInt64 {
        guard slot >= 256 else { return UInt64(slot) }
        let bucket = (slot >> halfMagnitude) - 1
        let sub = UInt64((slot & 127) + 128)
        return ((sub + 1) << UInt64(bucket)) - 1
    }

    /// Counts values through a raw pointer for the duration of `body`.
    mutating func withBatchRecorder<R>(_ body: (inout BatchRecorder) -> R) -> R {
        var recorded: UInt64 = 0
        let result = counts.withUnsafeMutableBufferPointer { counts in
            var recorder = BatchRecorder(counts: counts)
            defer { recorded = recorder.recorded }
            return body(&recorder)
        }
        totalCount &+= recorded
        return result
    }

    struct BatchRecorder {
        let counts: UnsafeMutableBufferPointer<UInt64>
        var recorded: UInt64 = 0

        @inline(__always)
        mutating func record(nanos: UInt64) {
            counts[LogLinearHistogram.index(micros: min(LogLinearHistogram.highestMicros, nanos / 1000))] &+= 1
            recorded &+= 1
        }
    }

    mutating func add(_ other: LogLinearHistogram) {
        guard other.totalCount > 0 else { return }
        counts.withUnsafeMutableBufferPointer { counts in
            other.counts.withUnsafeBufferPointer { theirs in
                for slot in theirs.indices where theirs[slot] != 0 { counts[slot] &+= theirs[slot] }
            }
        }
        totalCount &+= other.totalCount
    }

    /// The value (microseconds) at or below which a fraction `q` (0...1) of
    /// the values fall; nil when empty.
    func valueAtQuantile(_ q: Double) -> UInt64? {
        guard totalCount > 0 else { return nil }
        let rank = max(1, UInt64((min(1, max(0, q)) * Double(totalCount)).rounded(.up)))
        var seen: UInt64 = 0
        for slot in counts.indices where counts[slot] != 0 {
            seen &+= counts[slot]
            if seen >= rank { return Self.highestMicros(inSlot: slot) }
        }
        return Self.highestMicros(inSlot: counts.count - 1)
    }
}
