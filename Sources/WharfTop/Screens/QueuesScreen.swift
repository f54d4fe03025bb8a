/// Screen 1: every queue with depth, lag and latency side by side, the
/// figures an operator opens `top` for.
public enum QueuesScreen {
    public static func columns(_ context: FrameContext) -> [Column<QueueRow>] {
        let t = context.thresholds
        var columns: [Column<QueueRow>] = [
            Column("QUEUE", width: 0, right: false, text: { $0.name }, ascending: { $0.name < $1.name }),
            Column(
                "DEPTH", width: 7, text: { Formatters.count($0.depth) },
                style: { Style(t.depth.level(Double($0.depth)).role) }, ascending: { $0.depth < $1.depth }),
            Column("INFLT", width: 6, text: { Formatters.count($0.inflight) }, ascending: { $0.inflight < $1.inflight }),
            Column(
                "CONS", width: 4, text: { String($0.consumers) },
                style: { $0.consumers == 0 ? Style(.muted) : .plain }, ascending: { $0.consumers < $1.consumers }),
            Column(
                "IN/S", width: 8, minimumTerminalWidth: 70, text: { optional($0.inRate, Formatters.rate) },
                ascending: { compare($0.inRate, $1.inRate) }),
            Column(
                "OUT/S", width: 8, minimumTerminalWidth: 70, text: { optional($0.outRate, Formatters.rate) },
                ascending: { compare($0.outRate, $1.outRate) }),
            Column("LAG", width: 7, text: { Formatters.count($0.lagMessages) }, ascending: { $0.lagMessages < $1.lagMessages }),
            Column(
                "LAG s", width: 8, text: { $0.lagSeconds > 0 ? Formatters.duration($0.lagSeconds) : "0" },
                style: { Style(t.lagSeconds.level($0.lagSeconds).role) }, ascending: { $0.lagSeconds < $1.lagSeconds }),
            Column(
                "P99", width: 8, minimumTerminalWidth: 60, text: { optional($0.p99, Formatters.duration) },
                style: { Style(t.p99.level($0.p99).role) }, ascending: { compare($0.p99, $1.p99) }),
            Column(
                "DEPTH HISTORY", width: 14, right: false, minimumTerminalWidth: 100, text: { Sparkline.render($0.depthHistory, width: 14) },
                style: { _ in Style(.graphMid) }, ascending: { ($0.depthHistory.last ?? 0) < ($1.depthHistory.last ?? 0) }),
        ]
        if context.multiNode {
            columns.append(
                Column("NODE", width: 16, right: false, minimumTerminalWidth: 90, text: { $0.node }, ascending: { $0.node < $1.node }))
        }
        return columns
    }

    /// Filtered and sorted, as shown.
    public static func rows(_ context: FrameContext) -> [QueueRow] {
        Table.screenRows(RowBuilder.queues(context.nodes), name: \.name, columns: columns(context), screen: .queues, context: context)
    }

    public static func draw(_ context: FrameContext, rows: [QueueRow], into grid: inout CellGrid, area: Rect) {
        var tableArea = area
        if let name = context.view.detail, let row = rows.first(where: { $0.name == name }), area.height >= 16 {
            let detailHeight = 9
            tableArea.height -= detailHeight
            drawDetail(
                row, context: context, into: &grid,
                area: Rect(x: area.x, y: area.y + tableArea.height, width: area.width, height: detailHeight))
        }
        Table.drawScreen(
            rows, columns: columns(context), screen: .queues,
            empty: "No queues yet: a queue appears for each persistent session (clean session = 0).",
            context: context, into: &grid, area: area, tableArea: tableArea
        )
    }

    static func drawDetail(_ row: QueueRow, context: FrameContext, into grid: inout CellGrid, area: Rect) {
        grid.box(x: area.x, y: area.y, width: area.width, height: area.height, title: "queue \(row.name)")
        guard let node = context.nodes.first(where: { $0.label == row.node }),
            let queue = node.latest?.queues.first(where: { $0.name == row.name })
        else { return }
        let x = area.x + 2
        var y = area.y + 1
        func line(_ text: String) {
            grid.put(text, x: x, y: y, maxWidth: area.width - 4)
            y += 1
        }
        line("node \(row.node)   consumers \(queue.consumers)   depth \(queue.depth)   in flight \(queue.inflight)")
        line("enqueued \(queue.enqueuedTotal)   delivered \(queue.deliveredTotal)   acknowledged \(queue.acknowledgedTotal)")
        line(
            "lag \(queue.lagMessages) messages, \(Formatters.duration(queue.lagSeconds))   oldest waiting \(optional(queue.oldestMessageAgeSeconds, Formatters.duration))"
        )
        let d = queue.deliverLatency
        let a = queue.acknowledgeLatency
        line(
            "publish→deliver  p50 \(optional(d.p50, Formatters.duration))  p90 \(optional(d.p90, Formatters.duration))  p99 \(optional(d.p99, Formatters.duration))  max \(optional(d.max, Formatters.duration))"
        )
        line(
            "publish→ack      p50 \(optional(a.p50, Formatters.duration))  p90 \(optional(a.p90, Formatters.duration))  p99 \(optional(a.p99, Formatters.duration))  max \(optional(a.max, Formatters.duration))"
        )
        grid.put("depth ", x: x, y: y, style: .muted)
        grid.put(Sparkline.render(row.depthHistory, width: max(0, area.width - 12)), x: x + 6, y: y, style: Style(.graphMid))
        y += 1
        grid.put("Esc closes", x: x, y: y, style: .muted)
    }
}
