import Testing
import WharfCore
import WharfMetrics

@Suite struct TopicStatisticsTests {
    private let minute: UInt64 = 60_000_000_000

    /// Up to the limit each topic has its own counts; the rest are folded into one.
    @Test func capAndFold() {
        let stats = TopicStatistics(.init(limit: 2, prefixes: ["a/"]), now: 0)
        stats.record([("a/1", 10), ("a/2", 20), ("b/1", 5), ("a/1", 10)], now: 1)
        stats.record([("c/9", 7)], now: 2)
        let snapshot = stats.snapshot()
        #expect(snapshot.topics.map(\.name) == ["a/1", "a/2"], "busiest first")
        #expect(snapshot.topics[0].messagesTotal == 2 && snapshot.topics[0].bytesTotal == 20)
        #expect(snapshot.other.messagesTotal == 2 && snapshot.other.bytesTotal == 12)
        #expect(snapshot.prefixes == [.init(name: "a/", messagesTotal: 3, bytesTotal: 40)])
        let total = snapshot.topics.map(\.messagesTotal).reduce(0, +) + snapshot.other.messagesTotal
        #expect(total == 5, "every message is counted once")
    }

    /// When the table is full, a topic idle for a whole period gives its place up.
    @Test func idleTopicsMakeRoom() {
        let stats = TopicStatistics(.init(limit: 2, idlePeriodNanos: minute), now: 0)
        stats.record([("busy", 1), ("quiet", 1)], now: 1)
        stats.record([("busy", 1)], now: minute + 2)      // sweep: marks counts
        stats.record([("busy", 1)], now: 2 * minute + 3)  // sweep: "quiet" idle for a period, dropped
        stats.record([("new", 1)], now: 2 * minute + 4)
        #expect(stats.snapshot().topics.map(\.name).sorted() == ["busy", "new"])
    }

    /// Topics are compared byte for byte: different normalisations are different topics.
    @Test func exactBytes() {
        let stats = TopicStatistics(.init(limit: 10), now: 0)
        stats.record([("caf\u{E9}", 1), ("cafe\u{301}", 1)], now: 1)
        #expect(stats.snapshot().topics.count == 2)
    }
}
