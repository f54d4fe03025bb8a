import WharfMetrics

extension PrometheusRenderer {
    /// The kinds of `ClusterSnapshot.errorsTotal` (WharfCluster's `count(error:)` and envelope decoding).
    static let errorKinds = [
        "timeout", "no_responders", "api", "connection", "bad_envelope", "bad_inbox_entry", "replayed_queue_entry",
        "undone_queue_delete",
    ]

    /// Cluster mode's families (absent on a single node, and then none of
    /// them is written). Counters keyed by QoS or error kind have one
    /// series per key the node has seen.
    static func renderCluster(_ w: inout PrometheusTextWriter, _ c: ClusterSnapshot) {
        w.single("wharf_cluster_ready", .gauge, "1 while the node can serve cluster traffic (as /readyz says), else 0.", c.ready ? 1 : 0)
        w.family("wharf_cluster_info", .info, "This node's cluster name, boot id and durability; the value is always 1.")
        w.sample("wharf_cluster_info", ["node": c.node, "boot_id": c.bootId, "durability": c.durability], 1)
        w.single("wharf_cluster_live_nodes", .gauge, "Nodes whose leases are live, this one included.", c.liveNodes.count)
        w.single(
            "wharf_cluster_replicas", .gauge, "Copies JetStream keeps of the cluster's streams and buckets ([cluster] replicas).",
            c.replicas)

        let nats = c.nats
        w.single("wharf_cluster_nats_connected", .gauge, "1 while the node is connected to a NATS server, else 0.", nats.connected ? 1 : 0)
        w.single("wharf_cluster_nats_reconnects_total", .counter, "Successful reconnects to NATS.", nats.reconnectsTotal)
        if let roundTrip = nats.roundTripSeconds {
            w.single(
                "wharf_cluster_nats_round_trip_seconds", .gauge, "The last PING/PONG round trip to NATS (absent before the first).",
                roundTrip)
        }
        w.single("wharf_cluster_nats_pending_requests", .gauge, "NATS requests awaiting their replies now.", nats.pendingRequests)

        labelled(
            &w, "wharf_cluster_forwarded_messages_total", .counter, "Messages this node sent to other nodes, by QoS.", "qos",
            c.forwardedTotal)
        w.single("wharf_cluster_received_messages_total", .counter, "Messages this node received from other nodes.", c.receivedTotal)
        w.single(
            "wharf_cluster_forwards_pending", .gauge, "Forwarded QoS 1/2 messages whose JetStream acknowledgement is awaited now.",
            c.forwardsPending)
        w.single(
            "wharf_cluster_forward_failures_total", .counter,
            "Forwards and other JetStream writes that failed; each withheld its publisher's acknowledgement.", c.forwardFailuresTotal)
        w.single("wharf_cluster_remote_routes", .gauge, "Other nodes' subscriptions known here (route index entries).", c.remoteRoutes)
        w.single(
            "wharf_cluster_session_routes", .gauge, "Persistent sessions' subscriptions routed to their queues in the cluster.",
            c.sessionRoutes ?? 0)
        w.single(
            "wharf_cluster_group_routes", .gauge,
            "Consumer groups with members on a live node or in a session record, routed to their queues in the cluster.",
            c.groupRoutes ?? 0)

        let latency = c.jetStreamLatency
        let name = "wharf_cluster_jetstream_latency_seconds"
        w.family(name, .summary, "JetStream publish (forward, retained, route) to its acknowledgement; quantiles over the recent window.")
        for (quantile, label) in [(latency.p50, "0.5"), (latency.p99, "0.99")] {
            if let quantile { w.sample(name, [:], extra: ("quantile", label), quantile) }
        }
        w.sample(name + "_sum", latency.sumSeconds)
        w.sample(name + "_count", latency.count)

        // Every kind the node counts is written from the start, 0 until it
        // happens, so increase() sees the first error instead of a new series.
        let errors = c.errorsTotal.merging(errorKinds.map { ($0, 0) }) { counted, _ in counted }
        labelled(
            &w, "wharf_cluster_errors_total", .counter,
            "JetStream API and KV failures, undecodable messages from other nodes, queue entries a NATS server stored twice or lost the delete of, by kind.",
            "kind", errors)
    }
}
