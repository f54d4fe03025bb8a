import WharfMetrics

@testable import WharfTop

/// Snapshots built in code for the dashboard tests.
enum TestSnapshots {
    static let emptyLatency = LatencySnapshot(
        count: 0, sumSeconds: 0, buckets: nil, windowSeconds: 0, windowCount: 0, p50: nil, p90: nil, p99: nil, p999: nil, max: nil)

    static func latency(p99: Double?) -> LatencySnapshot {
        LatencySnapshot(
            count: 10, sumSeconds: 0.1, buckets: nil, windowSeconds: 30, windowCount: 10, p50: p99.map { $0 / 4 }, p90: p99.map { $0 / 2 },
            p99: p99, p999: p99, max: p99)
    }

    static func queue(_ name: String, depth: Int, lagSeconds: Double = 0, p99: Double? = 0.002, enqueued: Int = 0, delivered: Int = 0)
        -> QueueSnapshot
    {
        QueueSnapshot(
            name: name, consumers: 1, depth: depth, inflight: 0, enqueuedTotal: enqueued, deliveredTotal: delivered,
            acknowledgedTotal: delivered, lagMessages: depth, lagSeconds: lagSeconds, oldestMessageAgeSeconds: depth > 0 ? lagSeconds : nil,
            deliverLatency: latency(p99: p99), acknowledgeLatency: latency(p99: p99)
        )
    }

    static func snapshot(
        at time: Double, received: Int = 0, delivered: Int = 0, queues: [QueueSnapshot] = [], clients: [ClientSnapshot] = [],
        topics: [MetricsSnapshot.TopicCounts] = [], start: Double = 1000
    ) -> MetricsSnapshot {
        MetricsSnapshot(
            version: "9.9.9", startTimeSeconds: start, takenAtSeconds: time, uptimeSeconds: time - start,
            connections: .init(
                current: clients.count, maximum: 100, acceptedTotal: clients.count, rejectedTotal: [:], closedByServerTotal: [:]),
            sessions: .init(online: clients.count, offline: 0), subscriptions: 3, retainedMessages: 1,
            traffic: .init(
                packetsReceivedTotal: [:], packetsSentTotal: [:], bytesReceivedTotal: received * 100, bytesSentTotal: delivered * 100,
                malformedPacketsTotal: 0),
            messages: .init(
                receivedTotal: received, deliveredTotal: delivered, redeliveredTotal: 0, droppedTotal: ["queue_full": 0],
                payloadBytesReceivedTotal: 0, payloadBytesDeliveredTotal: 0),
            latency: .init(publishToDeliver: latency(p99: 0.004), publishToAcknowledge: latency(p99: 0.006)),
            topics: .init(seriesLimit: 100, topics: topics, other: .init(name: "", messagesTotal: 0, bytesTotal: 0), prefixes: []),
            queues: queues, clients: clients
        )
    }

    /// A node that has seen two snapshots one second apart.
    static func node(_ first: MetricsSnapshot, _ second: MetricsSnapshot, url: String = "http://127.0.0.1:18883") -> NodeHistory {
        var node = NodeHistory(url: url)
        node.record(first)
        node.record(second)
        return node
    }

    static func context(_ nodes: [NodeHistory], view: ViewState = ViewState()) -> FrameContext {
        FrameContext(nodes: nodes, view: view, thresholds: Thresholds(), nowSeconds: 2000)
    }
}
