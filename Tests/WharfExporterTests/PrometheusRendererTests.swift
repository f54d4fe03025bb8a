import Foundation
import Testing
import WharfMetrics

@testable import WharfExporter

@Suite struct PrometheusRendererTests {
    static let snapshot = MetricsSnapshot(
        version: "9.9.9", startTimeSeconds: 1000, takenAtSeconds: 1060, uptimeSeconds: 60,
        connections: .init(
            current: 3, maximum: 100, acceptedTotal: 7, rejectedTotal: ["max_connections": 2], closedByServerTotal: ["keepalive_timeout": 1]
        ),
        sessions: .init(online: 2, offline: 1), subscriptions: 4, retainedMessages: 5,
        traffic: .init(
            packetsReceivedTotal: ["publish": 10, "connect": 3], packetsSentTotal: ["puback": 10], bytesReceivedTotal: 1234,
            bytesSentTotal: 567, malformedPacketsTotal: 1),
        messages: .init(
            receivedTotal: 10, deliveredTotal: 8, redeliveredTotal: 1, droppedTotal: ["queue_full": 2], payloadBytesReceivedTotal: 100,
            payloadBytesDeliveredTotal: 80),
        latency: .init(publishToDeliver: deliverLatency, publishToAcknowledge: emptyLatency),
        topics: .init(
            seriesLimit: 2,
            topics: [.init(name: "sensors/1", messagesTotal: 6, bytesTotal: 60), .init(name: "a\\b", messagesTotal: 1, bytesTotal: 3)],
            other: .init(name: "", messagesTotal: 3, bytesTotal: 37),
            prefixes: [.init(name: "sensors/", messagesTotal: 6, bytesTotal: 60)]
        ),
        queues: [
            QueueSnapshot(
                name: "orders \"eu\"", consumers: 0, depth: 6, inflight: 1, enqueuedTotal: 9, deliveredTotal: 3, acknowledgedTotal: 2,
                lagMessages: 7, lagSeconds: 2.5, oldestMessageAgeSeconds: 2.25, deliverLatency: queueLatency,
                acknowledgeLatency: emptyLatency),
            QueueSnapshot(
                name: "idle", consumers: 1, depth: 0, inflight: 0, enqueuedTotal: 0, deliveredTotal: 0, acknowledgedTotal: 0,
                lagMessages: 0, lagSeconds: 0, oldestMessageAgeSeconds: nil, deliverLatency: emptyLatency, acknowledgeLatency: emptyLatency),
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
            "wharf_message_delivery_latency_seconds_bucket{le=\"1e-05\"} 0",
            "wharf_message_delivery_latency_seconds_bucket{le=\"5e-05\"} 0",
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
        snapshot.groups = [
            GroupSnapshot(
                name: "workers", filter: "jobs/#", consumers: 2, depth: 7, inflight: 3, enqueuedTotal: 50, deliveredTotal: 43,
                acknowledgedTotal: 40, redeliveredTotal: 1, lagMessages: 10, lagSeconds: 1.5, oldestMessageAgeSeconds: nil,
                members: [.init(clientId: "a", online: true, inflight: 3, deliveredTotal: 20)]
            )
        ]
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

    /// A durable broker's store: 12.3 MiB in 5 segments, a 128 MiB quota, three fsyncs (0.3 ms, 0.8 ms, 4 ms).
    static var storage: StorageSnapshot {
        var histogram = LatencyHistogram()
        for nanos: UInt64 in [300_000, 800_000, 4_000_000] { histogram.record(nanos: nanos) }
        let fsync = LatencySnapshot(
            count: 3, sumSeconds: Double(histogram.sumNanos) / 1e9, buckets: histogram.cumulativeBuckets,
            windowSeconds: 30, windowCount: 3, p50: 0.0008, p90: 0.004, p99: 0.004, p999: 0.004, max: 0.004
        )
        return StorageSnapshot(
            directory: "/var/lib/wharf", fsyncPolicy: "always", bytes: 12_897_485, segments: 5, quotaBytes: 134_217_728, full: false,
            storedMessages: 4200, writtenBytesTotal: 52_428_800, recordsTotal: 180_000, writeErrorsTotal: 2,
            fsyncLatency: fsync, commitsTotal: 21_000, committedSubmissionsTotal: 176_400, commitBatchMax: 37,
            checkpointsTotal: 3, recoverySeconds: 0.42, recoveredMessages: 4100, recoveryTruncatedBytes: 113
        )
    }

    static var durableSnapshot: MetricsSnapshot {
        var snapshot = Self.snapshot
        snapshot.storage = storage
        return snapshot
    }

    /// The metrics listener's own figures: open connections, the cap, and
    /// what its limits refused, by reason.
    @Test func httpListenerFamilies() {
        var snapshot = Self.snapshot
        #expect(!PrometheusRenderer.render(snapshot).contains("wharf_http_"), "no listener, no listener families")
        snapshot.http = HTTPListenerSnapshot(
            connections: 3, maxConnections: 64, evictedTotal: 137, idleClosedTotal: 4,
            refusedTotal: ["timeout": 2, "malformed": 1, "headers_too_large": 0, "body_too_large": 5, "unread_responses": 0]
        )
        let lines = PrometheusRenderer.render(snapshot).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        for expected in [
            "wharf_http_connections 3", "wharf_http_connections_max 64", "wharf_http_connections_evicted_total 137",
            "wharf_http_connections_idle_closed_total 4", "wharf_http_requests_refused_total{reason=\"timeout\"} 2",
            "wharf_http_requests_refused_total{reason=\"body_too_large\"} 5",
            "wharf_http_requests_refused_total{reason=\"malformed\"} 1",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
    }

    /// Every storage figure, in the text format 0.0.4, exactly.
    @Test func storageFamilies() {
        let text = PrometheusRenderer.render(Self.durableSnapshot)
        let lines = text.split(separator: "\n").map(String.init)
        let storage = lines.filter { $0.contains("wharf_storage_") }
        #expect(
            storage == [
                "# HELP wharf_storage_info The durable store's configuration; the value is always 1.",
                "# TYPE wharf_storage_info gauge",
                "wharf_storage_info{directory=\"/var/lib/wharf\",fsync=\"always\"} 1",
                "# HELP wharf_storage_bytes Bytes in the log's segment files.",
                "# TYPE wharf_storage_bytes gauge",
                "wharf_storage_bytes 12897485",
                "# HELP wharf_storage_segments Segment files in the log.",
                "# TYPE wharf_storage_segments gauge",
                "wharf_storage_segments 5",
                "# HELP wharf_storage_quota_bytes Configured limit on the log's size (absent when there is none).",
                "# TYPE wharf_storage_quota_bytes gauge",
                "wharf_storage_quota_bytes 134217728",
                "# HELP wharf_storage_full 1 while the store refuses new messages (quota reached or disk full), else 0.",
                "# TYPE wharf_storage_full gauge",
                "wharf_storage_full 0",
                "# HELP wharf_storage_stored_messages Messages the store holds: queued, in flight, retained and pending wills.",
                "# TYPE wharf_storage_stored_messages gauge",
                "wharf_storage_stored_messages 4200",
                "# HELP wharf_storage_written_bytes_total Bytes of records written to the log.",
                "# TYPE wharf_storage_written_bytes_total counter",
                "wharf_storage_written_bytes_total 52428800",
                "# HELP wharf_storage_records_total Records written to the log.",
                "# TYPE wharf_storage_records_total counter",
                "wharf_storage_records_total 180000",
                "# HELP wharf_storage_write_errors_total Log writes that failed (disk full, I/O error).",
                "# TYPE wharf_storage_write_errors_total counter",
                "wharf_storage_write_errors_total 2",
                "# HELP wharf_storage_fsync_duration_seconds Time each fsync of the log took.",
                "# TYPE wharf_storage_fsync_duration_seconds histogram",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"1e-05\"} 0",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"2.5e-05\"} 0",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"5e-05\"} 0",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.0001\"} 0",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.00025\"} 0",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.0005\"} 1",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.001\"} 2",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.0025\"} 2",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.005\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.01\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.025\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.05\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.1\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.25\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"0.5\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"1.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"2.5\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"5.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"10.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"30.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"60.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"300.0\"} 3",
                "wharf_storage_fsync_duration_seconds_bucket{le=\"+Inf\"} 3",
                "wharf_storage_fsync_duration_seconds_sum 0.0051",
                "wharf_storage_fsync_duration_seconds_count 3",
                "# HELP wharf_storage_commits_total Group commits: one write (and one fsync under fsync always) for a batch of submissions.",
                "# TYPE wharf_storage_commits_total counter",
                "wharf_storage_commits_total 21000",
                "# HELP wharf_storage_committed_submissions_total Submissions (connection batches) carried by group commits.",
                "# TYPE wharf_storage_committed_submissions_total counter",
                "wharf_storage_committed_submissions_total 176400",
                "# HELP wharf_storage_commit_batch_max Most submissions carried by one group commit (absent before the first).",
                "# TYPE wharf_storage_commit_batch_max gauge",
                "wharf_storage_commit_batch_max 37",
                "# HELP wharf_storage_checkpoints_total Checkpoints written (the log compacted).",
                "# TYPE wharf_storage_checkpoints_total counter",
                "wharf_storage_checkpoints_total 3",
                "# HELP wharf_storage_recovery_seconds Seconds recovery took when the broker started.",
                "# TYPE wharf_storage_recovery_seconds gauge",
                "wharf_storage_recovery_seconds 0.42",
                "# HELP wharf_storage_recovered_messages Messages recovered from the log when the broker started.",
                "# TYPE wharf_storage_recovered_messages gauge",
                "wharf_storage_recovered_messages 4100",
                "# HELP wharf_storage_recovery_truncated_bytes Bytes cut from a torn or corrupt log tail when the broker started (0 on a clean start).",
                "# TYPE wharf_storage_recovery_truncated_bytes gauge",
                "wharf_storage_recovery_truncated_bytes 113",
            ])
    }

    /// In memory (no storage section) not one storage series; unknown storage figures are absent, not 0.
    @Test func storageAbsentValues() {
        #expect(!PrometheusRenderer.render(Self.snapshot).contains("wharf_storage"))
        #expect(!String(decoding: PrometheusRenderer.render(Self.snapshot, openMetrics: true), as: UTF8.self).contains("wharf_storage"))

        var snapshot = Self.durableSnapshot
        snapshot.storage!.quotaBytes = nil
        snapshot.storage!.commitBatchMax = nil
        snapshot.storage!.full = true
        snapshot.storage!.fsyncPolicy = "never"
        snapshot.storage!.fsyncLatency = Self.emptyLatency
        let lines = Set(PrometheusRenderer.render(snapshot).split(separator: "\n").map(String.init))
        #expect(!lines.contains { $0.contains("wharf_storage_quota_bytes") }, "no quota: absent")
        #expect(!lines.contains { $0.contains("wharf_storage_commit_batch_max") }, "no commit yet: absent")
        #expect(lines.contains("wharf_storage_full 1"))
        #expect(lines.contains("wharf_storage_info{directory=\"/var/lib/wharf\",fsync=\"never\"} 1"))
        // fsync never: an empty histogram (count 0), not a missing family.
        #expect(lines.contains("# TYPE wharf_storage_fsync_duration_seconds histogram"))
        #expect(lines.contains("wharf_storage_fsync_duration_seconds_count 0"))
    }

    /// OpenMetrics names the storage counter families without _total and the info family without _info.
    @Test func storageOpenMetrics() {
        let lines = String(decoding: PrometheusRenderer.render(Self.durableSnapshot, openMetrics: true), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        for expected in [
            "# TYPE wharf_storage info",
            "wharf_storage_info{directory=\"/var/lib/wharf\",fsync=\"always\"} 1",
            "# TYPE wharf_storage_commits counter",
            "wharf_storage_commits_total 21000",
            "# TYPE wharf_storage_written_bytes counter",
            "# TYPE wharf_storage_write_errors counter",
            "# TYPE wharf_storage_checkpoints counter",
            "# TYPE wharf_storage_bytes gauge",
            "# TYPE wharf_storage_fsync_duration_seconds histogram",
            "wharf_storage_fsync_duration_seconds_bucket{le=\"+Inf\"} 3",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(lines.last == "# EOF")
    }

    /// `promtool check metrics` (Prometheus's own linter) accepts a durable broker's output without a warning.
    @Test(.enabled(if: Self.promtool != nil, "promtool comes with Debian's prometheus package (scripts/ensure-deps)"))
    func promtoolAcceptsStorage() throws {
        let (status, report) = try Self.promtoolCheck(PrometheusRenderer.render(Self.durableSnapshot))
        #expect(status == 0 && report.isEmpty, "\(report)")
    }

    /// `promtool check metrics` on `exposition`: its exit status and what it said.
    static func promtoolCheck(_ exposition: String) throws -> (status: Int32, report: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool!)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(exposition.utf8))
        try input.fileHandleForWriting.close()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, report)
    }

    static let promtool: String? = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
        FileManager.default.isExecutableFile(atPath: $0)
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
        let prometheus =
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
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
