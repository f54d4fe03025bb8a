import NIOCore
import Synchronization

/// Counts received messages and keeps their latencies for percentiles.
/// Written by the subscriber's loop, read by the runner: a mutex, not in
/// the broker's path.
final class ReceiveStats: Sendable {
    private struct State {
        var latencies: [UInt64] = []
        var lastReceiveNanos: UInt64 = 0
    }

    private let state: Mutex<State>

    init(expected: Int) {
        var initial = State()
        initial.latencies.reserveCapacity(expected)
        state = Mutex(initial)
    }

    func record(latencyNanos: UInt64) {
        state.withLock {
            $0.latencies.append(latencyNanos)
            $0.lastReceiveNanos = NIODeadline.now().uptimeNanoseconds
        }
    }

    var count: Int { state.withLock { $0.latencies.count } }
    var lastReceiveNanos: UInt64 { state.withLock { $0.lastReceiveNanos } }

    /// Percentile (0...100) in microseconds.
    func percentiles(_ wanted: [Double]) -> [Double] {
        let sorted = state.withLock { $0.latencies.sorted() }
        guard !sorted.isEmpty else { return wanted.map { _ in 0 } }
        return wanted.map { p in
            let index = min(sorted.count - 1, Int((p / 100) * Double(sorted.count)))
            return Double(sorted[index]) / 1000
        }
    }
}
