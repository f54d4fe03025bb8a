import Foundation
import WharfMetrics

/// Renders a snapshot (and the process metrics) as Prometheus text.
/// Names follow Prometheus conventions: `wharf_` prefix, base units,
/// `_total` on counters, bounded label sets (reasons, packet types, and one
/// `queue` label per persistent session).
public enum PrometheusRenderer {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public static let openMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    public static func render(_ snapshot: MetricsSnapshot) -> String {
        String(decoding: render(snapshot, format: .prometheus), as: UTF8.self)
    }

    public static func render(_ snapshot: MetricsSnapshot, openMetrics: Bool) -> [UInt8] {
        render(snapshot, format: openMetrics ? .openMetrics : .prometheus)
    }

    /// What Prometheus asks for decides the format: OpenMetrics when the
    /// Accept header names `application/openmetrics-text`, as Prometheus
    /// 2.x and later do first, and text 0.0.4 otherwise.
    public static func wantsOpenMetrics(accept: String?) -> Bool {
        guard let accept else { return false }
        for range in accept.split(separator: ",") {
            let fields = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.first?.lowercased() == "application/openmetrics-text" else { continue }
            let quality = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if quality > 0 { return true }  // q=0 means "not acceptable"
        }
        return false
    }

    static func render(_ snapshot: MetricsSnapshot, format: PrometheusTextWriter.Format) -> [UInt8] {
        var w = PrometheusTextWriter(format: format, capacity: 8 * 1024 + snapshot.queues.count * 2 * 1024)
        w.family("wharf_build_info", .info, "Wharf version; the value is always 1.")
        w.sample("wharf_build_info", ["version": snapshot.version], 1)
        w.single("wharf_start_time_seconds", .gauge, "Unix time the broker started.", snapshot.startTimeSeconds)
        w.single("wharf_uptime_seconds", .gauge, "Seconds since the broker started.", snapshot.uptimeSeconds)

        let c = snapshot.connections
        w.single("wharf_connections", .gauge, "Open network connections.", c.current)
        w.single("wharf_connections_max", .gauge, "Configured limit on connections (max_connections).", c.maximum)
        w.single("wharf_connections_accepted_total", .counter, "TCP connections accepted.", c.acceptedTotal)
        labelled(&w, "wharf_connections_rejected_total", .counter, "CONNECTs refused, by CONNACK cause.", "reason", c.rejectedTotal)
        labelled(
            &w, "wharf_connections_closed_by_server_total", .counter, "Connections the broker closed, by cause.", "reason",
            c.closedByServerTotal)

        w.family("wharf_sessions", .gauge, "Sessions by whether a client is connected.")
        w.sample("wharf_sessions", ["state": "online"], snapshot.sessions.online)
        w.sample("wharf_sessions", ["state": "offline"], snapshot.sessions.offline)
        w.single("wharf_subscriptions", .gauge, "Subscriptions across all sessions.", snapshot.subscriptions)
        w.single("wharf_retained_messages", .gauge, "Topics holding a retained message.", snapshot.retainedMessages)

        let t = snapshot.traffic
        labelled(&w, "wharf_packets_received_total", .counter, "MQTT packets received, by type.", "type", t.packetsReceivedTotal)
        labelled(&w, "wharf_packets_sent_total", .counter, "MQTT packets sent, by type.", "type", t.packetsSentTotal)
        w.single("wharf_network_received_bytes_total", .counter, "Bytes of MQTT packets received.", t.bytesReceivedTotal)
        w.single("wharf_network_sent_bytes_total", .counter, "Bytes of MQTT packets sent.", t.bytesSentTotal)
        w.single(
            "wharf_malformed_packets_total", .counter, "Packets that broke the protocol; each closed its connection.",
            t.malformedPacketsTotal)

        let m = snapshot.messages
        w.single("wharf_messages_received_total", .counter, "PUBLISH messages accepted from clients and wills.", m.receivedTotal)
        w.single("wharf_messages_delivered_total", .counter, "Message copies written to subscribers, resends included.", m.deliveredTotal)
        w.single("wharf_messages_redelivered_total", .counter, "Messages resent with DUP after a reconnect.", m.redeliveredTotal)
        w.single(
            "wharf_messages_dead_lettered_total", .counter, "Messages out of delivery attempts, sent to $DLQ/<topic>.", m.deadLetteredTotal)
        w.single(
            "wharf_messages_nacked_total", .counter,
            "Deliveries refused by a consumer's negative acknowledgement (MQTT 5.0 reason code >= 0x80).", m.nackedTotal)
        w.single(
            "wharf_messages_deduplicated_total", .counter,
            "Publishes not routed because their wharf-msg-id repeated one seen on the topic within the window.", m.deduplicatedTotal)
        w.single(
            "wharf_publisher_pauses_total", .counter,
            "Times flow control paused a publisher because a subscriber queue or consumer group was past its high-water mark.",
            m.publisherPausesTotal)
        w.single(
            "wharf_publisher_throttles_total", .counter,
            "Times a client past max_publish_rate or max_publish_bytes_rate was read slower until back within them.",
            m.publisherThrottlesTotal)
        labelled(&w, "wharf_messages_dropped_total", .counter, "Message copies not delivered, by reason.", "reason", m.droppedTotal)
        w.single("wharf_message_payload_received_bytes_total", .counter, "Payload bytes of messages received.", m.payloadBytesReceivedTotal)
        w.single(
            "wharf_message_payload_delivered_bytes_total", .counter, "Payload bytes of message copies delivered.",
            m.payloadBytesDeliveredTotal)

        renderLatency(&w, snapshot.latency)
        renderTopics(&w, snapshot.topics)
        renderQueues(&w, snapshot.queues)
        renderGroups(&w, snapshot.groups)
        if let storage = snapshot.storage { renderStorage(&w, storage) }
        if let http = snapshot.http { renderHTTP(&w, http) }
        if let listeners = snapshot.listeners { renderListeners(&w, listeners) }
        if let cluster = snapshot.cluster { renderCluster(&w, cluster) }
        if let denied = snapshot.authorizationDeniedTotal {
            labelled(
                &w, "wharf_authorization_denied_total", .counter,
                "Publishes, subscriptions and deliveries refused by the ACL (acl_file), by action.", "action", denied)
        }
        renderProcess(&w, ProcessMetrics.read())
        return w.finish()
    }

    static func labelled(
        _ w: inout PrometheusTextWriter, _ name: String, _ type: PrometheusTextWriter.MetricType, _ help: String, _ label: String,
        _ values: [String: Int]
    ) {
        w.family(name, type, help)
        for key in values.keys.sorted() { w.sample(name, [label: key], values[key]!) }
    }

    private static func renderQueues(_ w: inout PrometheusTextWriter, _ queues: [QueueSnapshot]) {
        guard !queues.isEmpty else { return }
        let gauges: [(String, String, (QueueSnapshot) -> Double?)] = [
            ("wharf_queue_depth", "Messages waiting to be sent (ready).", { Double($0.depth) }),
            ("wharf_queue_inflight", "Messages sent and not yet acknowledged.", { Double($0.inflight) }),
            ("wharf_queue_consumers", "Connected consumers.", { Double($0.consumers) }),
            ("wharf_queue_lag_messages", "Messages the consumer has not acknowledged (depth + in flight).", { Double($0.lagMessages) }),
            ("wharf_queue_lag_seconds", "Seconds since the oldest unacknowledged message was published.", { $0.lagSeconds }),
            (
                "wharf_queue_oldest_message_age_seconds", "Age of the oldest waiting message (absent when empty).",
                { $0.oldestMessageAgeSeconds }
            ),
        ]
        for (name, help, value) in gauges {
            w.family(name, .gauge, help)
            for queue in queues { if let v = value(queue) { w.sample(name, ["queue": queue.name], v) } }
        }
        let counters: [(String, String, (QueueSnapshot) -> Int)] = [
            ("wharf_queue_enqueued_total", "Messages added to the queue.", \.enqueuedTotal),
            ("wharf_queue_delivered_total", "Messages sent from the queue (first sends).", \.deliveredTotal),
            ("wharf_queue_acknowledged_total", "QoS 1/2 messages acknowledged by the consumer.", \.acknowledgedTotal),
        ]
        for (name, help, value) in counters {
            w.family(name, .counter, help)
            for queue in queues { w.sample(name, ["queue": queue.name], value(queue)) }
        }
        let latencies: [(String, String, (QueueSnapshot) -> LatencySnapshot)] = [
            (
                "wharf_queue_delivery_latency_seconds", "Publish to first send from this queue; quantiles over the recent window.",
                \.deliverLatency
            ),
            (
                "wharf_queue_ack_latency_seconds", "Publish to the consumer's PUBACK or PUBCOMP; quantiles over the recent window.",
                \.acknowledgeLatency
            ),
        ]
        for (name, help, value) in latencies {
            w.family(name, .summary, help)
            for queue in queues {
                let latency = value(queue)
                for (quantile, label) in [(latency.p50, "0.5"), (latency.p99, "0.99")] {
                    if let quantile { w.sample(name, ["queue": queue.name], extra: ("quantile", label), quantile) }
                }
                w.sample(name + "_sum", ["queue": queue.name], latency.sumSeconds)
                w.sample(name + "_count", ["queue": queue.name], latency.count)
            }
        }
    }

    /// One series set per consumer group, labelled by group name and filter.
    private static func renderGroups(_ w: inout PrometheusTextWriter, _ groups: [GroupSnapshot]) {
        guard !groups.isEmpty else { return }
        let gauges: [(String, String, (GroupSnapshot) -> Double?)] = [
            ("wharf_group_depth", "Messages waiting in a consumer group for a member with room.", { Double($0.depth) }),
            ("wharf_group_inflight", "Group messages given to a member and not yet acknowledged.", { Double($0.inflight) }),
            ("wharf_group_consumers", "Members of the group with a connected client.", { Double($0.consumers) }),
            ("wharf_group_members", "Members of the group, connected or not.", { Double($0.members.count) }),
            ("wharf_group_lag_messages", "Group messages not yet acknowledged (depth + in flight).", { Double($0.lagMessages) }),
            ("wharf_group_lag_seconds", "Seconds since the group's oldest unacknowledged message was published.", { $0.lagSeconds }),
            (
                "wharf_group_oldest_message_age_seconds", "Age of the group's oldest waiting message (absent when none waits).",
                { $0.oldestMessageAgeSeconds }
            ),
        ]
        for (name, help, value) in gauges {
            w.family(name, .gauge, help)
            for group in groups {
                if let v = value(group) { w.sample(name, ["group": group.name, "filter": group.filter], v) }
            }
        }
        let counters: [(String, String, (GroupSnapshot) -> Int)] = [
            ("wharf_group_enqueued_total", "Messages added to the group's queue.", \.enqueuedTotal),
            ("wharf_group_delivered_total", "Messages given to a member.", \.deliveredTotal),
            (
                "wharf_group_acknowledged_total", "Group messages acknowledged by a member (QoS 0 ones when handed over).",
                \.acknowledgedTotal
            ),
            ("wharf_group_redelivered_total", "Messages a member gave back unacknowledged, handed out again.", \.redeliveredTotal),
        ]
        for (name, help, value) in counters {
            w.family(name, .counter, help)
            for group in groups { w.sample(name, ["group": group.name, "filter": group.filter], value(group)) }
        }
    }

    /// The durable store (absent when the broker keeps everything in
    /// memory, and then none of these families is written).
    private static func renderStorage(_ w: inout PrometheusTextWriter, _ s: StorageSnapshot) {
        w.family("wharf_storage_info", .info, "The durable store's configuration; the value is always 1.")
        w.sample("wharf_storage_info", ["directory": s.directory, "fsync": s.fsyncPolicy], 1)
        w.single("wharf_storage_bytes", .gauge, "Bytes in the log's segment files.", s.bytes)
        w.single("wharf_storage_segments", .gauge, "Segment files in the log.", s.segments)
        if let quota = s.quotaBytes {
            w.single("wharf_storage_quota_bytes", .gauge, "Configured limit on the log's size (absent when there is none).", quota)
        }
        w.single(
            "wharf_storage_full", .gauge, "1 while the store refuses new messages (quota reached or disk full), else 0.", s.full ? 1 : 0)
        w.single(
            "wharf_storage_stored_messages", .gauge, "Messages the store holds: queued, in flight, retained and pending wills.",
            s.storedMessages)
        w.single("wharf_storage_written_bytes_total", .counter, "Bytes of records written to the log.", s.writtenBytesTotal)
        w.single("wharf_storage_records_total", .counter, "Records written to the log.", s.recordsTotal)
        w.single("wharf_storage_write_errors_total", .counter, "Log writes that failed (disk full, I/O error).", s.writeErrorsTotal)
        let fsync = s.fsyncLatency
        w.family("wharf_storage_fsync_duration_seconds", .histogram, "Time each fsync of the log took.")
        for bucket in fsync.buckets ?? [] {
            w.sample("wharf_storage_fsync_duration_seconds_bucket", [:], extra: ("le", bucketLabel(bucket.le)), Double(bucket.count))
        }
        w.sample("wharf_storage_fsync_duration_seconds_sum", fsync.sumSeconds)
        w.sample("wharf_storage_fsync_duration_seconds_count", fsync.count)
        w.single(
            "wharf_storage_commits_total", .counter,
            "Group commits: one write (and one fsync under fsync always) for a batch of submissions.", s.commitsTotal)
        w.single(
            "wharf_storage_committed_submissions_total", .counter, "Submissions (connection batches) carried by group commits.",
            s.committedSubmissionsTotal)
        if let batchMax = s.commitBatchMax {
            w.single(
                "wharf_storage_commit_batch_max", .gauge, "Most submissions carried by one group commit (absent before the first).",
                batchMax)
        }
        w.single("wharf_storage_checkpoints_total", .counter, "Checkpoints written (the log compacted).", s.checkpointsTotal)
        w.single("wharf_storage_recovery_seconds", .gauge, "Seconds recovery took when the broker started.", s.recoverySeconds)
        w.single(
            "wharf_storage_recovered_messages", .gauge, "Messages recovered from the log when the broker started.", s.recoveredMessages)
        w.single(
            "wharf_storage_recovery_truncated_bytes", .gauge,
            "Bytes cut from a torn or corrupt log tail when the broker started (0 on a clean start).", s.recoveryTruncatedBytes)
    }

    private static func renderHTTP(_ w: inout PrometheusTextWriter, _ h: HTTPListenerSnapshot) {
        w.single("wharf_http_connections", .gauge, "Open connections to this HTTP listener.", h.connections)
        w.single(
            "wharf_http_connections_max", .gauge, "[metrics] max_connections: past it the least recently active connection is closed.",
            h.maxConnections)
        w.single(
            "wharf_http_connections_evicted_total", .counter, "HTTP connections closed to make room for a newer one at the cap.",
            h.evictedTotal)
        w.single(
            "wharf_http_connections_idle_closed_total", .counter, "HTTP connections closed after idle_timeout with no request under way.",
            h.idleClosedTotal)
        labelled(
            &w, "wharf_http_requests_refused_total", .counter,
            "HTTP requests refused by the listener's limits or for lack of credentials, by reason.", "reason",
            h.refusedTotal)
    }

    private static func renderListeners(_ w: inout PrometheusTextWriter, _ listeners: [ListenerSnapshot]) {
        guard !listeners.isEmpty else { return }
        w.family("wharf_listener_connections", .gauge, "Sockets open on an MQTT listener now, connected or not yet.")
        for l in listeners {
            w.sample(
                "wharf_listener_connections", ["listener": l.name, "transport": l.transport, "tls": l.tls ? "true" : "false"], l.connections
            )
        }
        w.family("wharf_listener_accepted_total", .counter, "Sockets an MQTT listener accepted.")
        for l in listeners { w.sample("wharf_listener_accepted_total", ["listener": l.name], l.acceptedTotal) }
        w.family("wharf_listener_refused_total", .counter, "Sockets refused before MQTT began (TLS or WebSocket handshake), by reason.")
        for l in listeners {
            for (reason, count) in l.refusedTotal.sorted(by: { $0.key < $1.key }) {
                w.sample("wharf_listener_refused_total", ["listener": l.name, "reason": reason], count)
            }
        }
    }

    private static func renderLatency(_ w: inout PrometheusTextWriter, _ latency: MetricsSnapshot.Latency) {
        let families: [(String, String, LatencySnapshot)] = [
            (
                "wharf_message_delivery_latency_seconds",
                "Publish to the copy written to a subscriber (retained messages sent on subscribe excluded).", latency.publishToDeliver
            ),
            (
                "wharf_message_ack_latency_seconds", "Publish to the subscriber's PUBACK (QoS 1) or PUBCOMP (QoS 2).",
                latency.publishToAcknowledge
            ),
        ]
        for (name, help, value) in families {
            w.family(name, .histogram, help)
            for bucket in value.buckets ?? [] {
                w.sample(name + "_bucket", [:], extra: ("le", bucketLabel(bucket.le)), Double(bucket.count))
            }
            w.sample(name + "_sum", value.sumSeconds)
            w.sample(name + "_count", value.count)
        }
    }

    private static func renderTopics(_ w: inout PrometheusTextWriter, _ topics: MetricsSnapshot.Topics) {
        w.single("wharf_topic_series_limit", .gauge, "Most topics given their own series (topic_series_limit).", topics.seriesLimit)
        w.single("wharf_topics_tracked", .gauge, "Topics that have their own series now.", topics.topics.count)
        let perTopic: [(String, String, (MetricsSnapshot.TopicCounts) -> Int)] = [
            ("wharf_topic_messages_published_total", "Messages published to a tracked topic.", \.messagesTotal),
            ("wharf_topic_payload_published_bytes_total", "Payload bytes published to a tracked topic.", \.bytesTotal),
        ]
        for (name, help, value) in perTopic {
            w.family(name, .counter, help)
            for topic in topics.topics { w.sample(name, ["topic": topic.name], value(topic)) }
        }
        w.single(
            "wharf_topic_other_messages_published_total", .counter,
            "Messages published to topics beyond the series limit, folded together.", topics.other.messagesTotal)
        w.single(
            "wharf_topic_other_payload_published_bytes_total", .counter, "Payload bytes published to topics beyond the series limit.",
            topics.other.bytesTotal)
        guard !topics.prefixes.isEmpty else { return }
        let perPrefix: [(String, String, (MetricsSnapshot.TopicCounts) -> Int)] = [
            ("wharf_topic_prefix_messages_published_total", "Messages published under a configured topic prefix.", \.messagesTotal),
            ("wharf_topic_prefix_payload_published_bytes_total", "Payload bytes published under a configured topic prefix.", \.bytesTotal),
        ]
        for (name, help, value) in perPrefix {
            w.family(name, .counter, help)
            for prefix in topics.prefixes { w.sample(name, ["prefix": prefix.name], value(prefix)) }
        }
    }

    /// `le` values as Prometheus client libraries print them (`0.005`, `1.0`, `+Inf`).
    static func bucketLabel(_ bound: Double) -> String {
        bound.isInfinite ? "+Inf" : (bound == bound.rounded() ? String(format: "%.1f", bound) : "\(bound)")
    }

    private static func renderProcess(_ w: inout PrometheusTextWriter, _ p: ProcessMetrics) {
        let families: [(String, PrometheusTextWriter.MetricType, String, Double?)] = [
            ("process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.", p.cpuSeconds),
            ("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", p.residentMemoryBytes),
            ("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.", p.virtualMemoryBytes),
            ("process_open_fds", .gauge, "Number of open file descriptors.", p.openFileDescriptors),
            ("process_max_fds", .gauge, "Maximum number of open file descriptors.", p.maxFileDescriptors),
            ("process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.", p.startTimeSeconds),
        ]
        for (name, type, help, value) in families {
            if let value { w.single(name, type, help, value) }
        }
    }
}
