import Foundation
import NIOCore
import Testing
import WharfCore
import WharfMetrics
import WharfMQTT

@Suite struct LatencyHistogramTests {
    /// Buckets are cumulative at their bounds, and +Inf equals the count.
    @Test func cumulativeBuckets() {
        var histogram = LatencyHistogram()
        for nanos: UInt64 in [50_000, 100_000, 100_001, 2_000_000, 400_000_000_000] { histogram.record(nanos: nanos) }
        let buckets = histogram.cumulativeBuckets
        #expect(buckets.first == LatencyBucket(le: 0.0001, count: 2), "a value equal to the bound is in it (le)")
        #expect(buckets.first { $0.le == 0.00025 }?.count == 3)
        #expect(buckets.first { $0.le == 0.0025 }?.count == 4)
        #expect(buckets.first { $0.le == 300 }?.count == 4)
        #expect(buckets.last == LatencyBucket(le: .infinity, count: 5))
        #expect(histogram.count == 5 && histogram.maxNanos == 400_000_000_000)
    }

    /// Quantiles interpolate inside a bucket and never pass the largest value.
    @Test func quantiles() {
        var histogram = LatencyHistogram()
        #expect(histogram.quantileSeconds(0.5) == nil)
        for _ in 0..<100 { histogram.record(nanos: 3_000_000) }  // all in (2.5 ms, 5 ms]
        let median = try! #require(histogram.quantileSeconds(0.5))
        #expect(median > 0.0025 && median <= 0.003)
        #expect(histogram.quantileSeconds(1.0) == 0.003)
        histogram.record(nanos: 9_000_000_000)
        #expect(histogram.quantileSeconds(0.999)! <= 9.0)
        #expect(histogram.quantileSeconds(0.5)! < 0.005)
    }

    /// JSON writes the last bound as "+Inf" and reads it back.
    @Test func bucketJSON() throws {
        let data = try JSONEncoder().encode([LatencyBucket(le: 0.5, count: 1), LatencyBucket(le: .infinity, count: 2)])
        #expect(String(decoding: data, as: UTF8.self) == #"[{"count":1,"le":0.5},{"count":2,"le":"+Inf"}]"# ||
                String(decoding: data, as: UTF8.self) == #"[{"le":0.5,"count":1},{"le":"+Inf","count":2}]"#)
        let back = try JSONDecoder().decode([LatencyBucket].self, from: data)
        #expect(back.last?.le == .infinity)
    }
}

@Suite struct RecentWindowTests {
    private let second: UInt64 = 1_000_000_000

    /// Values stay readable for one to two periods, then age out.
    @Test func rotation() {
        var window = RecentWindow(LatencyHistogram(), periodNanos: 30 * second, now: 0)
        window.update(now: 1 * second) { $0.record(nanos: 1_000) }
        #expect(window.reading(now: 29 * second).0.count == 1)
        #expect(window.reading(now: 31 * second).0.count == 1, "moved to the previous half, still read")
        window.update(now: 40 * second) { $0.record(nanos: 2_000) }
        #expect(window.reading(now: 59 * second).0.count == 2)
        #expect(window.reading(now: 61 * second).0.count == 1, "the first half aged out")
        #expect(window.reading(now: 200 * second).0.count == 0, "idle for two periods: empty")
    }
}

@Suite struct QueueLatencyTests {
    /// A queue's delivery latency counts each first send, its ack latency each
    /// PUBACK/PUBCOMP; retained messages sent on subscribe are left out.
    @Test func countsMatchDeliveriesAndAcks() {
        var queue = OutboundQueue(maxInflight: 10, maxQueued: 100, now: 0)
        let old = Message(topic: "t", payload: ByteBuffer(string: "r"), qos: .atLeastOnce, retain: true, publishedAtNanos: 1)
        _ = queue.enqueue(old, qos: .atLeastOnce, retain: true)  // retained, sent on subscribe
        for i in 0..<3 {
            let m = Message(topic: "t", payload: ByteBuffer(string: "\(i)"), qos: .atLeastOnce, retain: false, publishedAtNanos: 1_000_000)
            _ = queue.enqueue(m, qos: .atLeastOnce, retain: false)
        }
        _ = queue.enqueue(message("t", qos: .atMostOnce), qos: .atMostOnce, retain: false)
        var packets: [OutboundPacket] = []
        queue.nextPackets(into: &packets, now: 3_000_000)
        #expect(packets.count == 5)
        #expect(queue.deliverLatency.count == 4, "3 QoS 1 + 1 QoS 0, not the retained one")
        let delivered = queue.deliverLatency.snapshot(now: 3_000_000)
        #expect(delivered.p50 != nil && delivered.p50! <= 0.0025)
        for packet in packets { if let id = packet.packetId { _ = queue.acknowledge(id, now: 11_000_000) } }
        #expect(queue.acknowledgeLatency.count == 3)
        let acked = queue.acknowledgeLatency.snapshot(now: 11_000_000)
        #expect(acked.max == 0.01 && acked.sumSeconds > 0.0299 && acked.sumSeconds < 0.0301)
    }
}

@Suite struct LatencyRecorderTests {
    /// Shards merge on read; totals keep growing, quantiles are HdrHistogram-exact to 1%.
    @Test func shardsMerge() throws {
        let recorder = LatencyRecorder(shardCount: 4, now: 0)
        recorder.record(.publishToDeliver, publishedAt: Array(repeating: 0, count: 99), now: 1_000_000, shard: 0)
        recorder.record(.publishToDeliver, publishedAt: [0], now: 200_000_000, shard: 3)
        let snapshot = recorder.snapshot(.publishToDeliver, now: 200_000_000)
        #expect(snapshot.count == 100 && snapshot.windowCount == 100)
        let p50 = try #require(snapshot.p50)
        #expect(abs(p50 - 0.001) < 0.00002)
        #expect(snapshot.max == 0.2)
        #expect(snapshot.buckets?.last?.count == 100)
        #expect(snapshot.buckets?.first { $0.le == 0.001 }?.count == 99)
        #expect(recorder.snapshot(.publishToAcknowledge, now: 200_000_000).count == 0)
        #expect(recorder.snapshot(.publishToAcknowledge, now: 200_000_000).p99 == nil)
    }
}
