import Testing
@testable import WharfExporter
import WharfMetrics

@Suite struct PrometheusRendererTests {
    static let snapshot = MetricsSnapshot(
        version: "9.9.9", startTimeSeconds: 1000, takenAtSeconds: 1060, uptimeSeconds: 60,
        connections: .init(current: 3, maximum: 100, acceptedTotal: 7, rejectedTotal: ["max_connections": 2], closedByServerTotal: ["keepalive_timeout": 1]),
        sessions: .init(online: 2, offline: 1), subscriptions: 4, retainedMessages: 5,
        traffic: .init(packetsReceivedTotal: ["publish": 10, "connect": 3], packetsSentTotal: ["puback": 10], bytesReceivedTotal: 1234, bytesSentTotal: 567, malformedPacketsTotal: 1),
        messages: .init(receivedTotal: 10, deliveredTotal: 8, redeliveredTotal: 1, droppedTotal: ["queue_full": 2], payloadBytesReceivedTotal: 100, payloadBytesDeliveredTotal: 80),
        latency: .init(publishToDeliver: deliverLatency, publishToAcknowledge: emptyLatency),
        topics: .init(
            seriesLimit: 2,
            topics: [.init(name: "sensors/1", messagesTotal: 6, bytesTotal: 60), .init(name: "a\\b", messagesTotal: 1, bytesTotal: 3)],
            other: .init(name: "", messagesTotal: 3, bytesTotal: 37),
            prefixes: [.init(name: "sensors/", messagesTotal: 6, bytesTotal: 60)]
        ),
        queues: [
            QueueSnapshot(name: "orders \"eu\"", consumers: 0, depth: 6, inflight: 1, enqueuedTotal: 9, deliveredTotal: 3, acknowledgedTotal: 2, lagMessages: 7, lagSeconds: 2.5, oldestMessageAgeSeconds: 2.25, deliverLatency: queueLatency, acknowledgeLatency: emptyLatency),
            QueueSnapshot(name: "idle", consumers: 1, depth: 0, inflight: 0, enqueuedTotal: 0, deliveredTotal: 0, acknowledgedTotal: 0, lagMessages: 0, lagSeconds: 0, oldestMessageAgeSeconds: nil, deliverLatency: emptyLatency, acknowledgeLatency: emptyLatency),
        ]
    )

    /// Three deliveries: 0.2 ms, 0.7 ms and 3 s.
    static var deliverLatency: LatencySnapshot {
        var histogram = LatencyHistogram()
        for nanos: UInt64 in [200_000, 700_000, 3_000_000_000] { histogram.record(nanos: nanos) }
        return LatencySnapshot(
            count: 3, sumSeconds: Double(histogram.sumNanos) / 1e9, buckets: histogram.cumulativeBuckets,
            windowSeconds: 30, windowCount: 3, p50: 0.0007, p90: 3, p99: 3, p999: 3, max: 3
        )
    }

    static let queueLatency = LatencySnapshot(
        count: 3, sumSeconds: 0.75, buckets: nil, windowSeconds: 30, windowCount: 3, p50: 0.125, p90: 0.5, p99: 0.5, p999: 0.5, max: 0.5
    )

    static let emptyLatency = LatencySnapshot(
        count: 0, sumSeconds: 0, buckets: [], windowSeconds: 0, windowCount: 0, p50: nil, p90: nil, p99: nil, p999: nil, max: nil
    )

    private var lines: Set<String> { Set(PrometheusRenderer.render(Self.snapshot).split(separator: "\n").map(String.init)) }

    /// Every figure of the snapshot appears with its value; counters end in _total.
    @Test func rendersValues() {
        let lines = self.lines
        for expected in [
            "wharf_build_info{version=\"9.9.9\"} 1",
            "wharf_uptime_seconds 60",
            "wharf_connections 3",
            "wharf_connections_rejected_total{reason=\"max_connections\"} 2",
            "wharf_connections_closed_by_server_total{reason=\"keepalive_timeout\"} 1",
            "wharf_sessions{state=\"offline\"} 1",
            "wharf_packets_received_total{type=\"publish\"} 10",
            "wharf_messages_dropped_total{reason=\"queue_full\"} 2",
            "wharf_queue_depth{queue=\"orders \\\"eu\\\"\"} 6",
            "wharf_queue_lag_seconds{queue=\"orders \\\"eu\\\"\"} 2.5",
            "wharf_queue_lag_messages{queue=\"idle\"} 0",
            "# TYPE wharf_queue_enqueued_total counter",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
    }

    /// Unknown values are absent, not 0: an empty queue has no oldest-message age.
    @Test func absentNotZero() {
        #expect(!lines.contains { $0.hasPrefix("wharf_queue_oldest_message_age_seconds{queue=\"idle\"}") })
        #expect(lines.contains("wharf_queue_oldest_message_age_seconds{queue=\"orders \\\"eu\\\"\"} 2.25"))
    }

    /// Every family has HELP and TYPE, and each TYPE'd counter is named *_total.
    @Test func helpAndTypeForEveryFamily() {
        let text = PrometheusRenderer.render(Self.snapshot)
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ") }
        let helps = Set(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { String($0.split(separator: " ")[2]) })
        for type in types {
            #expect(helps.contains(String(type[2])))
            if type[3] == "counter" { #expect(type[2].hasSuffix("_total")) }
            #expect(["counter", "gauge", "histogram", "summary"].contains(type[3]))
        }
        #expect(types.count > 25)
    }

    /// Latency is a histogram with cumulative buckets in seconds; per queue a summary.
    @Test func latencyFamilies() {
        let lines = self.lines
        for expected in [
            "# TYPE wharf_message_delivery_latency_seconds histogram",
            "wharf_message_delivery_latency_seconds_bucket{le=\"0.0001\"} 0",
            "wharf_message_delivery_latency_seconds_bucket{le=\"0.00025\"} 1",
            "wharf_message_delivery_latency_seconds_bucket{le=\"0.001\"} 2",
            "wharf_message_delivery_latency_seconds_bucket{le=\"2.5\"} 2",
            "wharf_message_delivery_latency_seconds_bucket{le=\"5.0\"} 3",
            "wharf_message_delivery_latency_seconds_bucket{le=\"+Inf\"} 3",
            "wharf_message_delivery_latency_seconds_count 3",
            "wharf_message_delivery_latency_seconds_sum 3.0009",
            "wharf_message_ack_latency_seconds_count 0",
            "# TYPE wharf_queue_delivery_latency_seconds summary",
            "wharf_queue_delivery_latency_seconds{queue=\"orders \\\"eu\\\"\",quantile=\"0.99\"} 0.5",
            "wharf_queue_delivery_latency_seconds_count{queue=\"idle\"} 0",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        // No samples in the window: no quantile (absent, not 0).
        #expect(!lines.contains { $0.hasPrefix("wharf_queue_delivery_latency_seconds{queue=\"idle\"") })
    }

    /// Per-topic series up to the limit, the rest in one folded series, prefixes apart.
    @Test func topicFamilies() {
        let lines = self.lines
        for expected in [
            "wharf_topic_messages_published_total{topic=\"sensors/1\"} 6",
            "wharf_topic_payload_published_bytes_total{topic=\"a\\\\b\"} 3",
            "wharf_topic_other_messages_published_total 3",
            "wharf_topic_prefix_messages_published_total{prefix=\"sensors/\"} 6",
            "wharf_topics_tracked 2",
            "wharf_topic_series_limit 2",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
    }

    /// Consumer groups get their own series set, labelled by group and filter.
    @Test func groupFamilies() {
        var snapshot = Self.snapshot
        snapshot.groups = [GroupSnapshot(
            name: "workers", filter: "jobs/#", consumers: 2, depth: 7, inflight: 3, enqueuedTotal: 50, deliveredTotal: 43,
            acknowledgedTotal: 40, redeliveredTotal: 1, lagMessages: 10, lagSeconds: 1.5, oldestMessageAgeSeconds: nil,
            members: [.init(clientId: "a", online: true, inflight: 3, deliveredTotal: 20)]
        )]
        let lines = Set(PrometheusRenderer.render(snapshot).split(separator: "\n").map(String.init))
        for expected in [
            "wharf_group_depth{group=\"workers\",filter=\"jobs/#\"} 7",
            "wharf_group_lag_seconds{group=\"workers\",filter=\"jobs/#\"} 1.5",
            "wharf_group_members{group=\"workers\",filter=\"jobs/#\"} 1",
            "wharf_group_redelivered_total{group=\"workers\",filter=\"jobs/#\"} 1",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(!lines.contains { $0.hasPrefix("wharf_group_oldest_message_age_seconds{") }, "nothing waits: absent")
        #expect(!PrometheusRenderer.render(Self.snapshot).contains("wharf_group_"), "no groups, no group families")
    }

    /// OpenMetrics: counter families without _total, info type, # EOF last.
    @Test func openMetricsFormat() {
        let text = String(decoding: PrometheusRenderer.render(Self.snapshot, openMetrics: true), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.last == "# EOF")
        #expect(lines.contains("# TYPE wharf_connections_accepted counter"))
        #expect(lines.contains("wharf_connections_accepted_total 7"))
        #expect(lines.contains("# TYPE wharf_build info"))
        #expect(lines.contains("wharf_build_info{version=\"9.9.9\"} 1"))
        #expect(!lines.contains { $0.hasPrefix("# TYPE") && $0.hasSuffix("_total counter") })
        #expect(!PrometheusRenderer.render(Self.snapshot).contains("# EOF"))
    }

    /// The Accept header picks the format the way Prometheus sends it.
    @Test func acceptNegotiation() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        #expect(PrometheusRenderer.wantsOpenMetrics(accept: prometheus))
        #expect(!PrometheusRenderer.wantsOpenMetrics(accept: nil))
        #expect(!PrometheusRenderer.wantsOpenMetrics(accept: "text/plain;version=0.0.4"))
        #expect(!PrometheusRenderer.wantsOpenMetrics(accept: "application/openmetrics-text; q=0"))
        #expect(PrometheusRenderer.wantsOpenMetrics(accept: "Application/OpenMetrics-Text"))
    }

    /// Label values escape backslash, quote and newline; numbers print as Prometheus expects.
    @Test func escapingAndFormatting() {
        #expect(PrometheusTextWriter.escape("a\\b\"c\nd") == "a\\\\b\\\"c\\nd")
        #expect(PrometheusTextWriter.format(3) == "3")
        #expect(PrometheusTextWriter.format(0.25) == "0.25")
        #expect(PrometheusTextWriter.format(.infinity) == "+Inf")
        #expect(PrometheusTextWriter.format(.nan) == "NaN")
    }
}
