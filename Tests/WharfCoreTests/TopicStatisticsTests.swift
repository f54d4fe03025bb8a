import NIOCore
import Testing
import WharfCore
import WharfMetrics

@Suite struct TopicStatisticsTests {
    private let minute: UInt64 = 60_000_000_000

    /// Up to the limit each topic has its own counts; the rest are folded into one.
    @Test func capAndFold() {
        let stats = TopicStatistics(.init(limit: 2, prefixes: ["a/"]), now: 0)
        stats.record(
            [
                .init(topic: "a/1", bytes: 10), .init(topic: "a/2", bytes: 20), .init(topic: "b/1", bytes: 5),
                .init(topic: "a/1", bytes: 10),
            ], now: 1)
        stats.record([.init(topic: "c/9", bytes: 7)], now: 2)
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
        stats.record([.init(topic: "busy", bytes: 1), .init(topic: "quiet", bytes: 1)], now: 1)
        stats.record([.init(topic: "busy", bytes: 1)], now: minute + 2)  // sweep: marks counts
        stats.record([.init(topic: "busy", bytes: 1)], now: 2 * minute + 3)  // sweep: "quiet" idle for a period, dropped
        stats.record([.init(topic: "new", bytes: 1)], now: 2 * minute + 4)
        #expect(stats.snapshot().topics.map(\.name).sorted() == ["busy", "new"])
    }

    /// A batch entry can carry several messages; sampled payloads become previews.
    @Test func entriesAndPreview() {
        let stats = TopicStatistics(.init(limit: 10), now: 0)
        stats.record([.init(topic: "t", messages: 3, bytes: 30)], sample: ("t", ByteBuffer(string: "21.5 C")), now: 1)
        stats.record([.init(topic: "bin", bytes: 2)], sample: ("bin", ByteBuffer(bytes: [0, 255])), now: 2)
        let topics = Dictionary(uniqueKeysWithValues: stats.snapshot().topics.map { ($0.name, $0) })
        #expect(topics["t"]?.messagesTotal == 3 && topics["t"]?.lastPayload == "21.5 C")
        #expect(topics["bin"]?.lastPayload == "0x00ff")
    }

    /// Topics are compared byte for byte: different normalisations are different topics.
    @Test func exactBytes() {
        let stats = TopicStatistics(.init(limit: 10), now: 0)
        stats.record([.init(topic: "caf\u{E9}", bytes: 1), .init(topic: "cafe\u{301}", bytes: 1)], now: 1)
        #expect(stats.snapshot().topics.count == 2)
    }
}
