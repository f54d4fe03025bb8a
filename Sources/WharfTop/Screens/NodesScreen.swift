import WharfMetrics

/// Screen 6: each broker side by side, and the totals across them.
public enum NodesScreen {
    public static func draw(_ context: FrameContext, into grid: inout CellGrid, area: Rect) {
        let labelWidth = 18
        let columnWidth = max(14, min(24, (area.width - labelWidth) / max(1, context.nodes.count + (context.multiNode ? 1 : 0))))
        let broker: [(String, (NodeHistory) -> String)] = [
            (
                "status",
                { node in
                    switch node.status {
                    case .connected: return "connected"
                    case .connecting: return "connecting"
                    case .disconnected: return "retrying"
                    }
                }
            ),
            ("version", { $0.latest?.version ?? "-" }),
            ("uptime", { $0.latest.map { Formatters.duration($0.uptimeSeconds) } ?? "-" }),
        ]
        let traffic: [(String, (NodeHistory) -> String)] = [
            ("connections", { $0.latest.map { "\($0.connections.current)/\($0.connections.maximum)" } ?? "-" }),
            ("sessions on/off", { $0.latest.map { "\($0.sessions.online)/\($0.sessions.offline)" } ?? "-" }),
            ("subscriptions", { $0.latest.map { Formatters.count($0.subscriptions) } ?? "-" }),
            ("messages in", { optional($0.rate { $0.messages.receivedTotal }, Formatters.rate) }),
            ("messages out", { optional($0.rate { $0.messages.deliveredTotal }, Formatters.rate) }),
            ("bytes in", { optional($0.rate { $0.traffic.bytesReceivedTotal }, Formatters.byteRate) }),
            ("bytes out", { optional($0.rate { $0.traffic.bytesSentTotal }, Formatters.byteRate) }),
            ("drops", { optional($0.rate { $0.messages.droppedTotal.values.reduce(0, +) }, Formatters.rate) }),
            ("expired", { $0.latest.map { Formatters.count($0.messages.droppedTotal["expired"] ?? 0) } ?? "-" }),
            ("dead letters", { $0.latest.map { Formatters.count($0.messages.deadLetteredTotal) } ?? "-" }),
            ("p50 deliver", { optional($0.latest?.latency.publishToDeliver.p50, Formatters.duration) }),
            ("p99 deliver", { optional($0.latest?.latency.publishToDeliver.p99, Formatters.duration) }),
            ("queues", { $0.latest.map { String($0.queues.count) } ?? "-" }),
            ("queued messages", { $0.latest.map { Formatters.count($0.queues.reduce(0) { $0 + $1.depth }) } ?? "-" }),
            ("retained", { $0.latest.map { Formatters.count($0.retainedMessages) } ?? "-" }),
        ]
        // Cluster figures right under the node's identity, so a short terminal keeps them.
        let figures = broker + (context.hasCluster ? ClusterFigures.rows : []) + traffic
        var x = area.x + labelWidth
        for node in context.nodes {
            grid.put(Formatters.fit(node.label, columnWidth, alignRight: true), x: x, y: area.y, style: .header)
            x += columnWidth
        }
        if context.multiNode {
            grid.put(Formatters.fit("TOTAL", columnWidth, alignRight: true), x: x, y: area.y, style: Style(.accent, bold: true))
        }
        for (offset, (label, value)) in figures.enumerated() {
            let y = area.y + 1 + offset
            guard y < area.y + area.height else { break }
            grid.put(label, x: area.x, y: y, style: .muted)
            x = area.x + labelWidth
            for node in context.nodes {
                let style: Style =
                    if case .disconnected = node.status {
                        Style(.critical)
                    } else {
                        ClusterFigures.style(label, node) ?? .plain
                    }
                grid.put(Formatters.fit(value(node), columnWidth, alignRight: true), x: x, y: y, style: style)
                x += columnWidth
            }
            if context.multiNode, let total = Totals.value(label, context.nodes) {
                grid.put(Formatters.fit(total, columnWidth, alignRight: true), x: x, y: y, style: Style(.accent))
            }
        }
    }
}

/// Figures summed across nodes, for the header and the Nodes screen.
enum Totals {
    static func rate(_ nodes: [NodeHistory], _ value: (MetricsSnapshot) -> Int) -> Double? {
        let rates = nodes.compactMap { $0.rate(value) }
        return rates.isEmpty ? nil : rates.reduce(0, +)
    }

    static func value(_ label: String, _ nodes: [NodeHistory]) -> String? {
        let snapshots = nodes.compactMap(\.latest)
        switch label {
        case "connections": return String(snapshots.reduce(0) { $0 + $1.connections.current })
        case "sessions on/off":
            return "\(snapshots.reduce(0) { $0 + $1.sessions.online })/\(snapshots.reduce(0) { $0 + $1.sessions.offline })"
        case "subscriptions": return Formatters.count(snapshots.reduce(0) { $0 + $1.subscriptions })
        case "messages in": return optional(rate(nodes) { $0.messages.receivedTotal }, Formatters.rate)
        case "messages out": return optional(rate(nodes) { $0.messages.deliveredTotal }, Formatters.rate)
        case "bytes in": return optional(rate(nodes) { $0.traffic.bytesReceivedTotal }, Formatters.byteRate)
        case "bytes out": return optional(rate(nodes) { $0.traffic.bytesSentTotal }, Formatters.byteRate)
        case "drops": return optional(rate(nodes) { $0.messages.droppedTotal.values.reduce(0, +) }, Formatters.rate)
        case "queues": return String(snapshots.reduce(0) { $0 + $1.queues.count })
        case "queued messages": return Formatters.count(snapshots.reduce(0) { $0 + $1.queues.reduce(0) { $0 + $1.depth } })
        case "retained": return Formatters.count(snapshots.reduce(0) { $0 + $1.retainedMessages })
        case "expired": return Formatters.count(snapshots.reduce(0) { $0 + ($1.messages.droppedTotal["expired"] ?? 0) })
        case "dead letters": return Formatters.count(snapshots.reduce(0) { $0 + $1.messages.deadLetteredTotal })
        case "forwarded": return optional(ClusterFigures.totalRate(nodes, ClusterFigures.forwarded), Formatters.rate)
        case "received": return optional(ClusterFigures.totalRate(nodes, \.receivedTotal), Formatters.rate)
        case "pending forwards": return Formatters.count(snapshots.reduce(0) { $0 + ($1.cluster?.forwardsPending ?? 0) })
        case "forward failures": return Formatters.count(snapshots.reduce(0) { $0 + ($1.cluster?.forwardFailuresTotal ?? 0) })
        default: return nil
        }
    }
}
