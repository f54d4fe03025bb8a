/// Screen 4: the topic tree with message rates, collapsible, with a sampled
/// preview of the last payload of each tracked topic.
public enum TopicsScreen {
    public static func rows(_ context: FrameContext) -> [TopicRow] {
        let all = RowBuilder.topics(context.nodes, collapsed: context.view.collapsedTopics)
        guard !context.view.filter.isEmpty else { return all }
        return all.filter { context.matches($0.path) }
    }

    public static func draw(_ context: FrameContext, rows: [TopicRow], into grid: inout CellGrid, area: Rect) {
        guard area.height > 1 else { return }
        let rateWidth = 9
        let totalWidth = 8
        let byteWidth = 11
        let previewWidth = grid.width >= 100 ? max(10, area.width / 3) : 0
        let nameWidth = max(10, area.width - rateWidth - totalWidth - byteWidth - previewWidth - 4)
        var x = area.x
        for (title, width, right) in [
            ("TOPIC", nameWidth, false), ("MSGS/S", rateWidth, true), ("TOTAL", totalWidth, true), ("BYTES/S", byteWidth, true),
            ("LAST PAYLOAD", previewWidth, false),
        ] where width > 0 {
            grid.put(Formatters.fit(title, width, alignRight: right), x: x, y: area.y, style: .header)
            x += width + 1
        }
        if rows.isEmpty {
            grid.put(
                "No topics published yet (or all folded: see topic_series_limit).", x: area.x + 1, y: area.y + 1, style: .muted,
                maxWidth: area.width - 2)
            return
        }
        for (offset, row) in rows.dropFirst(context.view.scroll).prefix(area.height - 1).enumerated() {
            let y = area.y + 1 + offset
            let marker = row.hasChildren ? (row.expanded ? "▾ " : "▸ ") : "  "
            let name = String(repeating: "  ", count: row.depth) + marker + row.name
            x = area.x
            let selected = context.view.selection == context.view.scroll + offset
            grid.put(Formatters.fit(name, nameWidth), x: x, y: y, style: row.hasChildren ? Style(.foreground, bold: true) : .plain)
            x += nameWidth + 1
            grid.put(Formatters.fit(optional(row.rate, Formatters.rate), rateWidth, alignRight: true), x: x, y: y)
            x += rateWidth + 1
            grid.put(Formatters.fit(Formatters.count(row.messages), totalWidth, alignRight: true), x: x, y: y)
            x += totalWidth + 1
            grid.put(Formatters.fit(optional(row.byteRate, Formatters.byteRate), byteWidth, alignRight: true), x: x, y: y)
            x += byteWidth + 1
            if previewWidth > 0, let preview = row.preview {
                grid.put(Formatters.fit(preview, previewWidth), x: x, y: y, style: .muted)
            }
            if selected {
                grid.restyle(x: area.x, y: y, width: area.width, height: 1) {
                    $0.background = .selection
                    $0.foreground = .selectionText
                }
            }
        }
    }
}
