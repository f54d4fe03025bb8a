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
        queues: [
            QueueSnapshot(name: "orders \"eu\"", consumers: 0, depth: 6, inflight: 1, enqueuedTotal: 9, deliveredTotal: 3, acknowledgedTotal: 2, lagMessages: 7, lagSeconds: 2.5, oldestMessageAgeSeconds: 2.25),
            QueueSnapshot(name: "idle", consumers: 1, depth: 0, inflight: 0, enqueuedTotal: 0, deliveredTotal: 0, acknowledgedTotal: 0, lagMessages: 0, lagSeconds: 0, oldestMessageAgeSeconds: nil),
        ]
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
        }
        #expect(types.count > 25)
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
