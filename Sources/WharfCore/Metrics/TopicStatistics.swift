import Synchronization
import WharfMetrics

/// Messages and bytes published per topic, with a bound on how many topics
/// get their own series (label cardinality is what kills a Prometheus
/// server), plus totals per configured prefix.
///
/// A topic gets its own series when first seen while fewer than `limit` are
/// tracked; the rest are folded into one "other" total. So the tracked set
/// follows the busy topics rather than the first ones, a topic that
/// published nothing for a whole `idlePeriod` is dropped when the set is
/// full, making room for the next new topic. Its series then disappears; if
/// it comes back its counter restarts from 0, which `rate()` reads as a reset.
///
/// Connections record a read batch at a time, so the lock is taken once per
/// batch, not once per message.
public final class TopicStatistics: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Topics with their own series (0 turns per-topic series off).
        public var limit: Int
        /// Topic prefixes always counted, whatever the limit (`orders/`, `sensors/eu/`).
        public var prefixes: [String]
        public var idlePeriodNanos: UInt64

        public init(limit: Int = 100, prefixes: [String] = [], idlePeriodNanos: UInt64 = 60_000_000_000) {
            self.limit = limit
            self.prefixes = prefixes
            self.idlePeriodNanos = idlePeriodNanos
        }
    }

    struct Counts: Sendable {
        var messages = 0
        var bytes = 0
        /// `messages` at the last idle sweep: unchanged means idle.
        var messagesAtSweep = 0
    }

    struct Table: Sendable {
        var topics: [ExactString: Counts] = [:]
        var other = Counts()
        var prefixes: [Counts]
        var lastSweep: UInt64
    }

    public let configuration: Configuration
    private let table: Mutex<Table>

    public init(_ configuration: Configuration = Configuration(), now: UInt64 = Clock.nowNanos()) {
        self.configuration = configuration
        table = Mutex(Table(prefixes: configuration.prefixes.map { _ in Counts() }, lastSweep: now))
    }

    /// Records published messages: `(topic, payload bytes)` pairs.
    public func record(_ published: [(topic: String, bytes: Int)], now: UInt64) {
        guard !published.isEmpty else { return }
        let limit = configuration.limit
        let prefixes = configuration.prefixes
        let idle = configuration.idlePeriodNanos
        table.withLock { table in
            if now > table.lastSweep, now - table.lastSweep >= idle {
                if table.topics.count >= limit {
                    table.topics = table.topics.filter { $0.value.messages != $0.value.messagesAtSweep }
                }
                table.topics = table.topics.mapValues { Counts(messages: $0.messages, bytes: $0.bytes, messagesAtSweep: $0.messages) }
                table.lastSweep = now
            }
            for (topic, bytes) in published {
                let key = ExactString(topic)
                if let index = table.topics.index(forKey: key) {  // one hash per message
                    table.topics.values[index].messages += 1
                    table.topics.values[index].bytes += bytes
                } else if table.topics.count < limit {
                    table.topics[key] = Counts(messages: 1, bytes: bytes)
                } else {
                    table.other.messages += 1
                    table.other.bytes += bytes
                }
                for (index, prefix) in prefixes.enumerated() where topic.utf8.starts(with: prefix.utf8) {
                    table.prefixes[index].messages += 1
                    table.prefixes[index].bytes += bytes
                }
            }
        }
    }

    public func snapshot() -> MetricsSnapshot.Topics {
        table.withLock { table in
            MetricsSnapshot.Topics(
                seriesLimit: configuration.limit,
                topics: table.topics.map { .init(name: $0.key.string, messagesTotal: $0.value.messages, bytesTotal: $0.value.bytes) }
                    .sorted { $0.messagesTotal != $1.messagesTotal ? $0.messagesTotal > $1.messagesTotal : $0.name < $1.name },
                other: .init(name: "", messagesTotal: table.other.messages, bytesTotal: table.other.bytes),
                prefixes: zip(configuration.prefixes, table.prefixes).map {
                    .init(name: $0, messagesTotal: $1.messages, bytesTotal: $1.bytes)
                }
            )
        }
    }
}
