import Foundation
import NIOCore
import Testing
import WharfMQTT

@testable import WharfCore
@testable import WharfMetrics

@Suite struct LatencyHistogramTests {
    /// Buckets are cumulative at their bounds, and +Inf equals the count.
    @Test func cumulativeBuckets() {
        var histogram = LatencyHistogram()
        for nanos: UInt64 in [50_000, 100_000, 100_001, 2_000_000, 400_000_000_000] { histogram.record(nanos: nanos) }
        let buckets = histogram.cumulativeBuckets
        #expect(buckets.first == LatencyBucket(le: 0.00001, count: 0), "the finest bound is 10 us")
        #expect(buckets.first { $0.le == 0.00005 }?.count == 1, "a value equal to the bound is in it (le)")
        #expect(buckets.first { $0.le == 0.0001 }?.count == 2)
        #expect(buckets.first { $0.le == 0.00025 }?.count == 3)
        #expect(buckets.first { $0.le == 0.0025 }?.count == 4)
        #expect(buckets.first { $0.le == 300 }?.count == 4)
        #expect(buckets.last == LatencyBucket(le: .infinity, count: 5))
        #expect(histogram.count == 5 && histogram.maxNanos == 400_000_000_000)
    }

    /// The O(1) bucket lookup agrees with the definition (first bound >= value)
    /// at, around and between every bound.
    @Test func bucketIndexMatchesDefinition() {
        var values: [UInt64] = [0, 1, 2, 3, UInt64.max, UInt64.max / 2]
        for bound in LatencyHistogram.boundsNanos { values += [bound - 1, bound, bound + 1, bound / 2, bound * 3 / 2] }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 { values.append(UInt64.random(in: 0...400_000_000_000, using: &generator)) }
        for value in values {
            let expected = LatencyHistogram.boundsNanos.firstIndex { $0 >= value } ?? LatencyHistogram.boundsNanos.count
            #expect(LatencyHistogram.bucketIndex(value) == expected, "value \(value)")
        }
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
        // Key order inside each object is the encoder's (it varies between
        // runs on Linux): compare the objects, not the text.
        let objects = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(objects.count == 2)
        #expect(objects[0]["le"] as? Double == 0.5 && objects[0]["count"] as? Int == 1)
        #expect(objects[1]["le"] as? String == "+Inf" && objects[1]["count"] as? Int == 2)
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
    /// An acknowledgement says whether the message was a retained one sent on
    /// subscribe, which latency figures leave out.
    @Test func acknowledgementMarksRetainedOnSubscribe() {
        var queue = OutboundQueue(maxInflight: 10, maxQueued: 100)
        _ = queue.enqueue(message("t", "r", retain: true), qos: .atLeastOnce, retain: true, onSubscribe: true)
        _ = queue.enqueue(message("t", "live"), qos: .atLeastOnce, retain: false)
        var packets: [OutboundPacket] = []
        queue.nextPackets(into: &packets)
        #expect(queue.acknowledge(packets[0].packetId!)?.sentOnSubscribe == true)
        #expect(queue.acknowledge(packets[1].packetId!)?.sentOnSubscribe == false)
    }

    /// A session's trackers count what its owner records, and report window quantiles.
    @Test func sessionRecordsBatches() throws {
        let s = session(persistent: true)
        s.recordLatency(delivered: [0, 0, 0], acknowledged: [], now: 2_000_000)
        s.recordLatency(delivered: [0], acknowledged: [0, 0], now: 10_000_000)
        let (deliver, acknowledge) = s.latency
        #expect(deliver.count == 4 && acknowledge.count == 2)
        let snapshot = deliver.snapshot(now: 10_000_000)
        #expect(snapshot.windowCount == 4 && snapshot.max == 0.01)
        let p50 = try #require(snapshot.p50)
        #expect(p50 > 0.001 && p50 <= 0.0025, "three of four at 2 ms")
        #expect(abs(acknowledge.snapshot(now: 10_000_000).sumSeconds - 0.02) < 1e-9)
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

/// `LogLinearHistogram`: every value within 1% of its bucket's top, and
/// quantiles that agree with the exact ones to that precision.
@Suite struct LogLinearHistogramTests {
    /// Slots are contiguous and ordered: each value lands in a slot whose
    /// top is at or above it and within 1% of it.
    @Test func slotsHoldTheirValues() {
        var values: [UInt64] = Array(0...2_000)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { values.append(UInt64.random(in: 0...LogLinearHistogram.highestMicros, using: &generator)) }
        var previous = (value: UInt64(0), slot: 0)
        for value in values.sorted() {
            let slot = LogLinearHistogram.index(micros: value)
            #expect(slot >= previous.slot && slot < LogLinearHistogram.slotCount)
            let top = LogLinearHistogram.highestMicros(inSlot: slot)
            #expect(top >= value)
            #expect(Double(top - value) <= max(1, Double(value) * 0.01))
            previous = (value, slot)
        }
    }

    /// Quantiles of a known spread match the sorted values to within 1%.
    @Test func quantilesMatchExactOnes() throws {
        var histogram = LogLinearHistogram()
        var values: [UInt64] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50_000 { values.append(UInt64.random(in: 5...200_000, using: &generator)) }
        histogram.withBatchRecorder { recorder in
            for value in values { recorder.record(nanos: value * 1000) }
        }
        #expect(histogram.totalCount == 50_000)
        let sorted = values.sorted()
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = Double(sorted[Int((q * Double(sorted.count)).rounded(.up)) - 1])
            let found = Double(try #require(histogram.valueAtQuantile(q)))
            #expect(abs(found - exact) <= exact * 0.01 + 1, "q \(q): \(found) vs \(exact)")
        }
        var merged = LogLinearHistogram()
        merged.add(histogram)
        merged.add(histogram)
        #expect(merged.totalCount == 100_000 && merged.valueAtQuantile(0.5) == histogram.valueAtQuantile(0.5))
        #expect(LogLinearHistogram().valueAtQuantile(0.5) == nil)
    }
}
