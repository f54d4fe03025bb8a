import WharfMetrics

/// Screen 5: latency percentiles (recent window) per node, a heat strip of
/// publish-to-deliver latency over time, and the slowest queues.
public enum LatencyScreen {
    public static func draw(_ context: FrameContext, into grid: inout CellGrid, area: Rect) {
        var y = area.y
        let columns = ["", "p50", "p90", "p99", "p99.9", "max", "count", "window"]
        let widths = [22, 9, 9, 9, 9, 9, 9, 8]
        func row(_ cells: [String], style: Style = .plain, _ styles: [Style]? = nil) {
            var x = area.x
            for (index, (cell, width)) in zip(cells, widths).enumerated() {
                grid.put(
                    Formatters.fit(cell, width, alignRight: index > 0), x: x, y: y, style: styles?[index] ?? style,
                    maxWidth: area.x + area.width - x)
                x += width + 1
            }
            y += 1
        }
        row(columns, style: .header)
        for node in context.nodes {
            guard let snapshot = node.latest else { continue }
            for (name, latency) in [
                ("publish → deliver", snapshot.latency.publishToDeliver), ("publish → ack", snapshot.latency.publishToAcknowledge),
            ] {
                let label = context.multiNode ? "\(node.label) \(name == "publish → ack" ? "ack" : "deliver")" : name
                let p99Style = Style(context.thresholds.p99.level(latency.p99).role)
                row(
                    [
                        label, optional(latency.p50, Formatters.duration), optional(latency.p90, Formatters.duration),
                        optional(latency.p99, Formatters.duration), optional(latency.p999, Formatters.duration),
                        optional(latency.max, Formatters.duration), Formatters.count(latency.count),
                        latency.windowSeconds > 0 ? Formatters.duration(latency.windowSeconds) : "-",
                    ],
                    [.plain, .plain, .plain, p99Style, .plain, .plain, .muted, .muted]
                )
            }
        }
        y += 1
        let stripHeight = min(LatencyHistogram.boundsSeconds.count + 1, max(0, area.y + area.height - y - 8))
        if stripHeight >= 4, let node = context.nodes.first(where: { !$0.latencyColumns.isEmpty }) {
            grid.put(
                "publish → deliver over time (each column one refresh, darker = more messages)", x: area.x, y: y, style: .header,
                maxWidth: area.width)
            y += 1
            drawHeatStrip(node.latencyColumns, into: &grid, area: Rect(x: area.x, y: y, width: area.width, height: stripHeight))
            y += stripHeight + 1
        }
        // The slowest queues by p99.
        let slow = RowBuilder.queues(context.nodes).filter { $0.p99 != nil }.sorted { ($0.p99 ?? 0) > ($1.p99 ?? 0) }
        guard y < area.y + area.height - 1, !slow.isEmpty else { return }
        grid.put("slowest queues (p99 publish → deliver)", x: area.x, y: y, style: .header, maxWidth: area.width)
        y += 1
        for queue in slow.prefix(area.y + area.height - y) {
            grid.put(Formatters.fit(queue.name, 30), x: area.x, y: y)
            grid.put(
                Formatters.fit(optional(queue.p99, Formatters.duration), 9, alignRight: true), x: area.x + 31, y: y,
                style: Style(context.thresholds.p99.level(queue.p99).role))
            y += 1
        }
    }

    /// Rows are bucket ranges (slowest at the top), columns are refreshes;
    /// each cell is shaded by its share of that refresh's deliveries.
    static func drawHeatStrip(_ columns: [[Int]], into grid: inout CellGrid, area: Rect) {
        let bounds = LatencyHistogram.boundsSeconds
        let labelWidth = 9
        let visible = columns.suffix(max(0, area.width - labelWidth - 1))
        // Merge buckets so the strip fits the height: groups of adjacent buckets.
        let bucketCount = bounds.count + 1
        let groups = max(1, area.height)
        let perGroup = Int((Double(bucketCount) / Double(groups)).rounded(.up))
        let shades: [(Character, ColorRole)] = [(" ", .muted), ("░", .graphLow), ("▒", .graphMid), ("▓", .graphHigh), ("█", .graphHigh)]
        for group in 0..<min(groups, Int((Double(bucketCount) / Double(perGroup)).rounded(.up))) {
            let y = area.y + area.height - 1 - group
            let upper = min(bucketCount - 1, (group + 1) * perGroup - 1)
            let label = upper < bounds.count ? "≤" + Formatters.duration(bounds[upper]) : ">" + Formatters.duration(bounds.last!)
            grid.put(Formatters.fit(label, labelWidth, alignRight: true), x: area.x, y: y, style: .muted)
            for (offset, column) in visible.enumerated() {
                let total = column.reduce(0, +)
                let count = column[(group * perGroup)..<min(column.count, (group + 1) * perGroup)].reduce(0, +)
                let share = total > 0 ? Double(count) / Double(total) : 0
                let level = count == 0 ? 0 : min(4, 1 + Int(share * 4))
                grid.put(String(shades[level].0), x: area.x + labelWidth + 1 + offset, y: y, style: Style(shades[level].1))
            }
        }
    }
}
