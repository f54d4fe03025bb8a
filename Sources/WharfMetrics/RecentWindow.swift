/// Something that can be emptied and merged: what `RecentWindow` rotates.
public protocol MergeableDistribution: Sendable {
    /// An empty distribution shaped like `self`.
    func emptied() -> Self
    mutating func add(_ other: Self)
}

extension LatencyHistogram: MergeableDistribution {
    public func emptied() -> LatencyHistogram { LatencyHistogram() }
}

/// The recent part of a distribution, for quantiles that show "now".
///
/// Two halves rotate every `period`: values go to `current`, and a reading
/// merges `current` with `previous`, so it always covers between one and two
/// periods of history. This is how Prometheus client libraries age summary
/// quantiles, with two buckets instead of five to keep it cheap.
public struct RecentWindow<Distribution: MergeableDistribution>: Sendable {
    public private(set) var current: Distribution
    public private(set) var previous: Distribution
    /// Monotonic start of `current` and of `previous`, in nanoseconds.
    private var currentStart: UInt64
    private var previousStart: UInt64?
    public let periodNanos: UInt64

    public init(_ empty: Distribution, periodNanos: UInt64, now: UInt64) {
        current = empty
        previous = empty
        currentStart = now
        previousStart = nil
        self.periodNanos = periodNanos
    }

    /// Moves `current` to `previous` when its period is over; after two idle
    /// periods both are emptied. Call before recording or reading.
    public mutating func rotate(now: UInt64) {
        guard now >= currentStart, now - currentStart >= periodNanos else { return }
        if now - currentStart >= 2 * periodNanos {
            previous = current.emptied()
            previousStart = now - periodNanos
        } else {
            previous = current
            previousStart = currentStart
        }
        current = current.emptied()
        currentStart = previousStart! + periodNanos
    }

    /// Records into the current half (rotating first if due).
    public mutating func update(now: UInt64, _ change: (inout Distribution) -> Void) {
        rotate(now: now)
        change(&current)
    }

    /// The merged halves and the seconds they span.
    public func reading(now: UInt64) -> (Distribution, seconds: Double) {
        var copy = self
        copy.rotate(now: now)
        var merged = copy.previous
        merged.add(copy.current)
        let start = copy.previousStart ?? copy.currentStart
        return (merged, now > start ? Double(now - start) / 1e9 : 0)
    }
}
