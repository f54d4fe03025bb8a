import Foundation
import NIOCore
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
        var preview: String?
        var previewAt: UInt64 = 0
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

    /// Messages published to one topic in a batch (consecutive publishes to
    /// the same topic are counted into one entry by the caller).
    public struct Published: Sendable {
        public var topic: String
        public var messages: Int
        public var bytes: Int

        public init(topic: String, messages: Int = 1, bytes: Int) {
            self.topic = topic
            self.messages = messages
            self.bytes = bytes
        }
    }

    /// Records a batch of published messages, and optionally one payload as
    /// a sample for its topic's preview (kept at most once a second per
    /// topic, so previews cost nothing per message).
    public func record(_ published: [Published], sample: (topic: String, payload: ByteBuffer)? = nil, now: UInt64) {
        guard !published.isEmpty else { return }
        let limit = configuration.limit
        let prefixes = configuration.prefixes
        let idle = configuration.idlePeriodNanos
        table.withLock { table in
            if now > table.lastSweep, now - table.lastSweep >= idle {
                if table.topics.count >= limit {
                    table.topics = table.topics.filter { $0.value.messages != $0.value.messagesAtSweep }
                }
                table.topics = table.topics.mapValues { counts in
                    var marked = counts
                    marked.messagesAtSweep = counts.messages
                    return marked
                }
                table.lastSweep = now
            }
            for entry in published {
                let key = ExactString(entry.topic)
                if let index = table.topics.index(forKey: key) {  // one hash per entry
                    table.topics.values[index].messages += entry.messages
                    table.topics.values[index].bytes += entry.bytes
                } else if table.topics.count < limit {
                    table.topics[key] = Counts(messages: entry.messages, bytes: entry.bytes)
                } else {
                    table.other.messages += entry.messages
                    table.other.bytes += entry.bytes
                }
                for (index, prefix) in prefixes.enumerated() where entry.topic.utf8.starts(with: prefix.utf8) {
                    table.prefixes[index].messages += entry.messages
                    table.prefixes[index].bytes += entry.bytes
                }
            }
            if let sample, let index = table.topics.index(forKey: ExactString(sample.topic)),
                table.topics.values[index].preview == nil || now &- table.topics.values[index].previewAt >= 1_000_000_000
            {
                table.topics.values[index].preview = Self.preview(sample.payload)
                table.topics.values[index].previewAt = now
            }
        }
    }

    public func snapshot() -> MetricsSnapshot.Topics {
        table.withLock { table in
            MetricsSnapshot.Topics(
                seriesLimit: configuration.limit,
                topics: table.topics.map {
                    .init(name: $0.key.string, messagesTotal: $0.value.messages, bytesTotal: $0.value.bytes, lastPayload: $0.value.preview)
                }
                .sorted { $0.messagesTotal != $1.messagesTotal ? $0.messagesTotal > $1.messagesTotal : $0.name < $1.name },
                other: .init(name: "", messagesTotal: table.other.messages, bytesTotal: table.other.bytes),
                prefixes: zip(configuration.prefixes, table.prefixes).map {
                    .init(name: $0, messagesTotal: $1.messages, bytesTotal: $1.bytes)
                }
            )
        }
    }

    /// Printable UTF-8 as text, anything else as hex; at most 64 bytes.
    static func preview(_ payload: ByteBuffer) -> String {
        let bytes = payload.getBytes(at: payload.readerIndex, length: min(64, payload.readableBytes)) ?? []
        let cut = payload.readableBytes > 64 ? "…" : ""
        if let text = String(validating: bytes, as: UTF8.self),
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        {
            return text + cut
        }
        // A cut may split a multi-byte character: retry without the last 1-3 bytes.
        for drop in 1...3 where bytes.count > drop && !cut.isEmpty {
            if let text = String(validating: bytes.dropLast(drop), as: UTF8.self),
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            {
                return text + cut
            }
        }
        return "0x" + bytes.prefix(24).map { String(format: "%02x", $0) }.joined() + (bytes.count > 24 ? "…" : "")
    }
}
