import WharfMetrics

/// The Nodes screen's rows for cluster mode: which node this is, whether it
/// serves and why not, its link to NATS, and what crosses to other nodes.
/// A node without a cluster section shows "-" in each.
enum ClusterFigures {
    static var rows: [(String, (NodeHistory) -> String)] {
        [
            ("cluster node", { $0.latest?.cluster?.node ?? "-" }),
            ("cluster ready", { node in node.latest?.cluster.map { $0.ready ? "ready" : ($0.notReadyReason ?? "not ready") } ?? "-" }),
            ("NATS", { node in node.latest?.cluster.map { $0.nats.connected ? ($0.nats.server ?? "connected") : "disconnected" } ?? "-" }),
            ("NATS round trip", { optional($0.latest?.cluster?.nats.roundTripSeconds, Formatters.duration) }),
            ("live nodes", { node in node.latest?.cluster.map { String($0.liveNodes.count) } ?? "-" }),
            ("forwarded", { optional(rate($0, forwarded), Formatters.rate) }),
            ("received", { optional(rate($0, \.receivedTotal), Formatters.rate) }),
            ("pending forwards", { node in node.latest?.cluster.map { Formatters.count($0.forwardsPending) } ?? "-" }),
            ("forward failures", { node in node.latest?.cluster.map { Formatters.count($0.forwardFailuresTotal) } ?? "-" }),
        ]
    }

    /// Messages sent to other nodes, every QoS.
    static func forwarded(_ cluster: ClusterSnapshot) -> Int {
        cluster.forwardedTotal.values.reduce(0, +)
    }

    /// Per-second change of a cluster counter between the node's last two
    /// snapshots; nil unless both have a cluster section.
    static func rate(_ node: NodeHistory, _ value: (ClusterSnapshot) -> Int) -> Double? {
        guard node.latest?.cluster != nil, node.previous?.cluster != nil else { return nil }
        return node.rate { $0.cluster.map(value) ?? 0 }
    }

    static func totalRate(_ nodes: [NodeHistory], _ value: (ClusterSnapshot) -> Int) -> Double? {
        let rates = nodes.compactMap { rate($0, value) }
        return rates.isEmpty ? nil : rates.reduce(0, +)
    }

    /// Not ready, cut off from NATS: critical; failures since start: a warning.
    static func style(_ label: String, _ node: NodeHistory) -> Style? {
        guard let cluster = node.latest?.cluster else { return nil }
        switch label {
        case "cluster ready": return cluster.ready ? nil : Style(.critical, bold: true)
        case "NATS": return cluster.nats.connected ? nil : Style(.critical, bold: true)
        case "forward failures": return cluster.forwardFailuresTotal > 0 ? Style(.warning) : nil
        default: return nil
        }
    }
}
