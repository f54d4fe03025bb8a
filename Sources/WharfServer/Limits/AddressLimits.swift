import Synchronization

/// `[limits] max_connections_per_address` and `connection_rate_per_address`:
/// how many sockets one source address may hold open, and how fast it may
/// open new ones (a bucket of `rate` a second with a second's burst). One
/// table for every event loop, under a mutex taken once per accept and once
/// per close; never per packet.
///
/// Memory is bounded: an address is forgotten once it has no socket open
/// and its bucket is full again, and when the table grows past
/// `sweepThreshold` such entries are swept.
final class AddressLimits: Sendable {
    enum Refusal: Equatable {
        case tooManyConnections
        case rateExceeded
    }

    private struct Entry {
        var open = 0
        var bucket: TokenBucket?
    }

    let maxConnections: Int
    let rate: Double
    private let sweepThreshold: Int
    private let table = Mutex<[String: Entry]>([:])

    /// nil when neither limit is set.
    init?(maxConnections: Int, rate: Double, sweepThreshold: Int = 100_000) {
        guard maxConnections > 0 || rate > 0 else { return nil }
        self.maxConnections = maxConnections
        self.rate = rate
        self.sweepThreshold = sweepThreshold
    }

    /// A socket from `address` was accepted: nil if it may stay (it is then
    /// counted until `closed`), else why not.
    func admit(_ address: String, now: UInt64) -> Refusal? {
        table.withLock { table in
            if table.count > sweepThreshold { Self.sweep(&table, now: now) }
            var entry = table[address] ?? Entry()
            if maxConnections > 0, entry.open >= maxConnections { return .tooManyConnections }
            if rate > 0 {
                var bucket = entry.bucket ?? TokenBucket(rate: rate, capacity: max(1, rate), now: now)
                guard bucket.tryTake(now: now) else {
                    entry.bucket = bucket
                    table[address] = entry
                    return .rateExceeded
                }
                entry.bucket = bucket
            }
            entry.open += 1
            table[address] = entry
            return nil
        }
    }

    func closed(_ address: String, now: UInt64) {
        table.withLock { table in
            guard var entry = table[address] else { return }
            entry.open -= 1
            entry.bucket?.refill(now: now)
            if entry.open <= 0, entry.bucket?.isFull ?? true {
                table[address] = nil
            } else {
                table[address] = entry
            }
        }
    }

    /// Addresses tracked now (for tests).
    var trackedCount: Int { table.withLock { $0.count } }

    private static func sweep(_ table: inout [String: Entry], now: UInt64) {
        table = table.filter { _, entry in
            var bucket = entry.bucket
            bucket?.refill(now: now)
            return entry.open > 0 || !(bucket?.isFull ?? true)
        }
    }
}
