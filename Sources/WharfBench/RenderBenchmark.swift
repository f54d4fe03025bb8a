import Foundation
import WharfExporter
import WharfMetrics

/// Times `/metrics` rendering for a broker with many queues: builds one
/// synthetic snapshot of the given size, renders it `runs` times, and
/// reports the median and the worst, with the output's size and series count.
public struct RenderBenchmark: Sendable {
    public var queues: Int
    public var topics: Int
    public var runs: Int

    public init(queues: Int, topics: Int, runs: Int) {
        self.queues = queues
        self.topics = topics
        self.runs = runs
    }

    public struct Result: Sendable {
        public var medianMilliseconds: Double
        public var maxMilliseconds: Double
        public var bytes: Int
        public var series: Int

        public var summary: String {
            String(
                format: "render_median_ms=%.2f render_max_ms=%.2f bytes=%d series=%d", medianMilliseconds, maxMilliseconds, bytes, series)
        }
    }

    public func run(openMetrics: Bool = false) -> Result {
        let snapshot = makeSnapshot()
        var times: [Double] = []
        var output: [UInt8] = []
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            output = PrometheusRenderer.render(snapshot, openMetrics: openMetrics)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        let series = output.split(separator: UInt8(ascii: "\n")).filter { $0.first != UInt8(ascii: "#") }.count
        return Result(medianMilliseconds: times[times.count / 2], maxMilliseconds: times.last!, bytes: output.count, series: series)
    }

    func makeSnapshot() -> MetricsSnapshot {
        var histogram = LatencyHistogram()
        for i in 0..<1000 { histogram.record(nanos: UInt64(i) * 97_000) }
        let latency = LatencySnapshot(
            count: histogram.count, sumSeconds: Double(histogram.sumNanos) / 1e9, buckets: histogram.cumulativeBuckets,
            windowSeconds: 45, windowCount: histogram.count, p50: histogram.quantileSeconds(0.5), p90: histogram.quantileSeconds(0.9),
            p99: histogram.quantileSeconds(0.99), p999: histogram.quantileSeconds(0.999), max: Double(histogram.maxNanos) / 1e9
        )
        var queueLatency = latency
        queueLatency.buckets = nil
        let queues = (0..<queues).map { i in
            QueueSnapshot(
                name: "device-\(i)", consumers: i % 2, depth: i, inflight: i % 20, enqueuedTotal: i * 1000,
                deliveredTotal: i * 990, acknowledgedTotal: i * 980, lagMessages: i + i % 20, lagSeconds: Double(i) / 7,
                oldestMessageAgeSeconds: i == 0 ? nil : Double(i) / 9, deliverLatency: queueLatency, acknowledgeLatency: queueLatency
            )
        }
        let reasons = ["queue_full", "offline_qos0", "no_subscriber", "topic_too_deep", "reserved_topic", "session_discarded"]
        return MetricsSnapshot(
            version: "bench", startTimeSeconds: 1_700_000_000, takenAtSeconds: 1_700_003_600, uptimeSeconds: 3600,
            connections: .init(
                current: 1000, maximum: 10_000, acceptedTotal: 123_456, rejectedTotal: ["max_connections": 1],
                closedByServerTotal: ["taken_over": 2]),
            sessions: .init(online: 500, offline: 500), subscriptions: 2000, retainedMessages: 10,
            traffic: .init(
                packetsReceivedTotal: ["publish": 1_000_000], packetsSentTotal: ["publish": 990_000], bytesReceivedTotal: 1 << 30,
                bytesSentTotal: 1 << 30, malformedPacketsTotal: 0),
            messages: .init(
                receivedTotal: 1_000_000, deliveredTotal: 990_000, redeliveredTotal: 10,
                droppedTotal: Dictionary(uniqueKeysWithValues: reasons.map { ($0, 5) }), payloadBytesReceivedTotal: 1 << 28,
                payloadBytesDeliveredTotal: 1 << 28),
            latency: .init(publishToDeliver: latency, publishToAcknowledge: latency),
            topics: .init(
                seriesLimit: topics,
                topics: (0..<topics).map { .init(name: "sensors/\($0)/temperature", messagesTotal: 10_000 - $0, bytesTotal: 640_000) },
                other: .init(name: "", messagesTotal: 42, bytesTotal: 4200),
                prefixes: [.init(name: "sensors/", messagesTotal: 1_000_000, bytesTotal: 1 << 26)]
            ),
            queues: queues,
            // A durable broker's store, so the render covers its families too.
            storage: StorageSnapshot(
                directory: "/var/lib/wharf", fsyncPolicy: "always", bytes: 3 << 30, segments: 48, quotaBytes: 8 << 30, full: false,
                storedMessages: 250_000, writtenBytesTotal: 40 << 30, recordsTotal: 3_000_000, writeErrorsTotal: 0,
                fsyncLatency: latency, commitsTotal: 400_000, committedSubmissionsTotal: 3_200_000, commitBatchMax: 64,
                checkpointsTotal: 12, recoverySeconds: 1.5, recoveredMessages: 240_000, recoveryTruncatedBytes: 0
            )
        )
    }
}
