import Foundation
import Testing
import WharfMetrics

@testable import WharfExporter

@Suite struct PrometheusRendererClusterTests {
    /// node-1 of two, ready, connected to NATS 1.5 ms away, having forwarded 120 messages and received 40.
    static let cluster = ClusterSnapshot(
        node: "node-1", bootId: "b00t", ready: true, notReadyReason: nil,
        liveNodes: [
            .init(name: "node-1", metricsURL: "http://127.0.0.1:18883", startedAtSeconds: 1000),
            .init(name: "node-2", metricsURL: nil, startedAtSeconds: 1001),
        ],
        durability: "replicated", replicas: 3,
        nats: .init(
            connected: true, server: "nats://127.0.0.1:4222", reconnectsTotal: 2, roundTripSeconds: 0.0015, pendingRequests: 1,
            lastError: nil),
        forwardedTotal: ["0": 100, "1": 15, "2": 5], receivedTotal: 40, forwardsPending: 3, forwardFailuresTotal: 4, remoteRoutes: 7,
        jetStreamLatency: LatencySnapshot(
            count: 20, sumSeconds: 0.02, buckets: nil, windowSeconds: 30, windowCount: 20, p50: 0.0006, p90: 0.001, p99: 0.0014,
            p999: 0.0014, max: 0.0014),
        errorsTotal: ["timeout": 1]
    )

    static var clusterSnapshot: MetricsSnapshot {
        var snapshot = PrometheusRendererTests.snapshot
        snapshot.cluster = cluster
        snapshot.cluster?.sessionRoutes = 5
        snapshot.cluster?.groupRoutes = 2
        return snapshot
    }

    /// Every cluster figure, in the text format 0.0.4, exactly and in this order.
    @Test func clusterFamilies() {
        let lines = PrometheusRenderer.render(Self.clusterSnapshot).split(separator: "\n").map(String.init)
        #expect(
            lines.filter { $0.contains("wharf_cluster_") } == [
                "# HELP wharf_cluster_ready 1 while the node can serve cluster traffic (as /readyz says), else 0.",
                "# TYPE wharf_cluster_ready gauge",
                "wharf_cluster_ready 1",
                "# HELP wharf_cluster_info This node's cluster name, boot id and durability; the value is always 1.",
                "# TYPE wharf_cluster_info gauge",
                "wharf_cluster_info{node=\"node-1\",boot_id=\"b00t\",durability=\"replicated\"} 1",
                "# HELP wharf_cluster_live_nodes Nodes whose leases are live, this one included.",
                "# TYPE wharf_cluster_live_nodes gauge",
                "wharf_cluster_live_nodes 2",
                "# HELP wharf_cluster_replicas Copies JetStream keeps of the cluster's streams and buckets ([cluster] replicas).",
                "# TYPE wharf_cluster_replicas gauge",
                "wharf_cluster_replicas 3",
                "# HELP wharf_cluster_nats_connected 1 while the node is connected to a NATS server, else 0.",
                "# TYPE wharf_cluster_nats_connected gauge",
                "wharf_cluster_nats_connected 1",
                "# HELP wharf_cluster_nats_reconnects_total Successful reconnects to NATS.",
                "# TYPE wharf_cluster_nats_reconnects_total counter",
                "wharf_cluster_nats_reconnects_total 2",
                "# HELP wharf_cluster_nats_round_trip_seconds The last PING/PONG round trip to NATS (absent before the first).",
                "# TYPE wharf_cluster_nats_round_trip_seconds gauge",
                "wharf_cluster_nats_round_trip_seconds 0.0015",
                "# HELP wharf_cluster_nats_pending_requests NATS requests awaiting their replies now.",
                "# TYPE wharf_cluster_nats_pending_requests gauge",
                "wharf_cluster_nats_pending_requests 1",
                "# HELP wharf_cluster_forwarded_messages_total Messages this node sent to other nodes, by QoS.",
                "# TYPE wharf_cluster_forwarded_messages_total counter",
                "wharf_cluster_forwarded_messages_total{qos=\"0\"} 100",
                "wharf_cluster_forwarded_messages_total{qos=\"1\"} 15",
                "wharf_cluster_forwarded_messages_total{qos=\"2\"} 5",
                "# HELP wharf_cluster_received_messages_total Messages this node received from other nodes.",
                "# TYPE wharf_cluster_received_messages_total counter",
                "wharf_cluster_received_messages_total 40",
                "# HELP wharf_cluster_forwards_pending Forwarded QoS 1/2 messages whose JetStream acknowledgement is awaited now.",
                "# TYPE wharf_cluster_forwards_pending gauge",
                "wharf_cluster_forwards_pending 3",
                "# HELP wharf_cluster_forward_failures_total Forwards and other JetStream writes that failed; each withheld its publisher's acknowledgement.",
                "# TYPE wharf_cluster_forward_failures_total counter",
                "wharf_cluster_forward_failures_total 4",
                "# HELP wharf_cluster_remote_routes Other nodes' subscriptions known here (route index entries).",
                "# TYPE wharf_cluster_remote_routes gauge",
                "wharf_cluster_remote_routes 7",
                "# HELP wharf_cluster_session_routes Persistent sessions' subscriptions routed to their queues in the cluster.",
                "# TYPE wharf_cluster_session_routes gauge",
                "wharf_cluster_session_routes 5",
                "# HELP wharf_cluster_group_routes Consumer groups with members on a live node or in a session record, routed to their queues in the cluster.",
                "# TYPE wharf_cluster_group_routes gauge",
                "wharf_cluster_group_routes 2",
                "# HELP wharf_cluster_jetstream_latency_seconds JetStream publish (forward, retained, route) to its acknowledgement; quantiles over the recent window.",
                "# TYPE wharf_cluster_jetstream_latency_seconds summary",
                "wharf_cluster_jetstream_latency_seconds{quantile=\"0.5\"} 0.0006",
                "wharf_cluster_jetstream_latency_seconds{quantile=\"0.99\"} 0.0014",
                "wharf_cluster_jetstream_latency_seconds_sum 0.02",
                "wharf_cluster_jetstream_latency_seconds_count 20",
                "# HELP wharf_cluster_errors_total JetStream API and KV failures, undecodable messages from other nodes, queue entries a NATS server stored twice or lost the delete of, by kind.",
                "# TYPE wharf_cluster_errors_total counter",
                "wharf_cluster_errors_total{kind=\"api\"} 0",
                "wharf_cluster_errors_total{kind=\"bad_envelope\"} 0",
                "wharf_cluster_errors_total{kind=\"bad_inbox_entry\"} 0",
                "wharf_cluster_errors_total{kind=\"connection\"} 0",
                "wharf_cluster_errors_total{kind=\"no_responders\"} 0",
                "wharf_cluster_errors_total{kind=\"replayed_queue_entry\"} 0",
                "wharf_cluster_errors_total{kind=\"timeout\"} 1",
                "wharf_cluster_errors_total{kind=\"undone_queue_delete\"} 0",
            ])
    }

    /// A single node (no cluster section) writes not one cluster series, in either format.
    @Test func absentOnASingleNode() {
        #expect(!PrometheusRenderer.render(PrometheusRendererTests.snapshot).contains("wharf_cluster"))
        let openMetrics = PrometheusRenderer.render(PrometheusRendererTests.snapshot, openMetrics: true)
        #expect(!String(decoding: openMetrics, as: UTF8.self).contains("wharf_cluster"))
    }

    /// Not ready and cut off from NATS: 0s, and unknown figures (round trip, quantiles) absent, not 0.
    @Test func notReadyAndDisconnected() {
        var snapshot = Self.clusterSnapshot
        snapshot.cluster!.ready = false
        snapshot.cluster!.notReadyReason = "not connected to NATS"
        snapshot.cluster!.nats = .init(
            connected: false, server: nil, reconnectsTotal: 2, roundTripSeconds: nil, pendingRequests: 0, lastError: "connection refused")
        snapshot.cluster!.jetStreamLatency = PrometheusRendererTests.emptyLatency
        let lines = Set(PrometheusRenderer.render(snapshot).split(separator: "\n").map(String.init))
        #expect(lines.contains("wharf_cluster_ready 0"))
        #expect(lines.contains("wharf_cluster_nats_connected 0"))
        #expect(!lines.contains { $0.contains("wharf_cluster_nats_round_trip_seconds") }, "no round trip yet: absent")
        #expect(!lines.contains { $0.hasPrefix("wharf_cluster_jetstream_latency_seconds{") }, "empty window: no quantile")
        #expect(lines.contains("wharf_cluster_jetstream_latency_seconds_count 0"))
    }

    /// Each known error kind is written from the start (0 until it happens); a kind the exporter does not know still shows.
    @Test func errorKindsFromTheStart() {
        var snapshot = Self.clusterSnapshot
        snapshot.cluster!.errorsTotal = ["something_new": 2]
        let lines = Set(PrometheusRenderer.render(snapshot).split(separator: "\n").map(String.init))
        for kind in PrometheusRenderer.errorKinds { #expect(lines.contains("wharf_cluster_errors_total{kind=\"\(kind)\"} 0")) }
        #expect(lines.contains("wharf_cluster_errors_total{kind=\"something_new\"} 2"))
    }

    /// OpenMetrics names the cluster counter families without _total and the info family without _info.
    @Test func clusterOpenMetrics() {
        let lines = String(decoding: PrometheusRenderer.render(Self.clusterSnapshot, openMetrics: true), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        for expected in [
            "# TYPE wharf_cluster info",
            "wharf_cluster_info{node=\"node-1\",boot_id=\"b00t\",durability=\"replicated\"} 1",
            "# TYPE wharf_cluster_forwarded_messages counter",
            "wharf_cluster_forwarded_messages_total{qos=\"1\"} 15",
            "# TYPE wharf_cluster_forward_failures counter",
            "# TYPE wharf_cluster_nats_reconnects counter",
            "# TYPE wharf_cluster_errors counter",
            "# TYPE wharf_cluster_jetstream_latency_seconds summary",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(lines.last == "# EOF")
    }

    /// `promtool check metrics` accepts a cluster node's output without a warning.
    @Test(.enabled(if: PrometheusRendererTests.promtool != nil, "promtool comes with Debian's prometheus package (scripts/ensure-deps)"))
    func promtoolAcceptsCluster() throws {
        let (status, report) = try PrometheusRendererTests.promtoolCheck(PrometheusRenderer.render(Self.clusterSnapshot))
        #expect(status == 0 && report.isEmpty, "\(report)")
    }
}
