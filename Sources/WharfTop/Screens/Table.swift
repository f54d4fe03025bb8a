/// A rectangle of the screen.
public struct Rect: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }
}

/// One column of a table: its heading, width, how a row shows in it, and
/// how rows sort by it.
public struct Column<Row>: Sendable {
    public var title: String
    /// Columns with 0 share the width left over by the fixed ones.
    public var width: Int
    public var alignRight: Bool
    /// Narrower terminals drop this column (degrading instead of wrapping).
    public var minimumTerminalWidth: Int
    public var text: @Sendable (Row) -> String
    public var style: @Sendable (Row) -> Style
    /// Ascending order by this column.
    public var ascending: @Sendable (Row, Row) -> Bool

    public init(
        _ title: String, width: Int, right: Bool = true, minimumTerminalWidth: Int = 0,
        text: @escaping @Sendable (Row) -> String, style: @escaping @Sendable (Row) -> Style = { _ in .plain },
        ascending: @escaping @Sendable (Row, Row) -> Bool
    ) {
        self.title = title
        self.width = width
        self.alignRight = right
        self.minimumTerminalWidth = minimumTerminalWidth
        self.text = text
        self.style = style
        self.ascending = ascending
    }
}

/// Draws rows as a table with a heading, the sort column marked, the
/// selected row highlighted, and a scroll position that keeps it in view.
public enum Table {
    /// Sorts by one column (ties keep the previous order, so sorting is stable).
    public static func sorted<Row>(_ rows: [Row], by column: Column<Row>, descending: Bool) -> [Row] {
        let indexed = rows.enumerated().map { ($0.offset, $0.element) }
        return indexed.sorted { a, b in
            if column.ascending(a.1, b.1) { return !descending }
            if column.ascending(b.1, a.1) { return descending }
            return a.0 < b.0
        }.map(\.1)
    }

    /// The columns that fit a terminal this wide.
    public static func visible<Row>(_ columns: [Column<Row>], terminalWidth: Int) -> [Column<Row>] {
        columns.filter { $0.minimumTerminalWidth <= terminalWidth }
    }

    /// First row to show so that `selection` is visible in `height` rows.
    public static func scroll(selection: Int, previous: Int, height: Int, count: Int) -> Int {
        guard height > 0, count > height else { return 0 }
        var first = previous
        if selection < first { first = selection }
        if selection >= first + height { first = selection - height + 1 }
        return max(0, min(first, count - height))
    }

    public static func draw<Row>(
        _ rows: [Row], columns allColumns: [Column<Row>], sortColumn: Int, descending: Bool,
        selection: Int?, scroll: Int, into grid: inout CellGrid, area: Rect
    ) {
        guard area.height >= 1, area.width >= 4 else { return }
        let shown = allColumns.indices.filter { allColumns[$0].minimumTerminalWidth <= grid.width }
        let columns = shown.map { allColumns[$0] }
        let fixed = columns.reduce(0) { $0 + $1.width + 1 }
        let flexibleCount = columns.filter { $0.width == 0 }.count
        let flexibleWidth = flexibleCount > 0 ? max(6, (area.width - fixed) / flexibleCount) : 0
        let widths = columns.map { $0.width == 0 ? flexibleWidth : $0.width }
        // Heading, with the sort column marked by an arrow.
        var x = area.x
        for (index, width) in zip(shown, widths) {
            let column = allColumns[index]
            let isSorted = index == sortColumn
            let title = isSorted ? column.title + (descending ? "▼" : "▲") : column.title
            grid.put(
                Formatters.fit(title, width, alignRight: column.alignRight), x: x, y: area.y,
                style: isSorted ? Style(.accent, bold: true) : .header, maxWidth: area.x + area.width - x
            )
            x += width + 1
        }
        let bodyHeight = area.height - 1
        guard bodyHeight > 0 else { return }
        for (offset, row) in rows.dropFirst(scroll).prefix(bodyHeight).enumerated() {
            let y = area.y + 1 + offset
            let selected = selection == scroll + offset
            x = area.x
            for (column, width) in zip(columns, widths) {
                var style = column.style(row)
                if selected { style = Style(.selectionText, on: .selection, bold: style.bold) }
                grid.put(
                    Formatters.fit(column.text(row), width, alignRight: column.alignRight), x: x, y: y, style: style,
                    maxWidth: area.x + area.width - x)
                x += width + 1
            }
            if selected {
                grid.restyle(x: area.x, y: y, width: area.width, height: 1) {
                    $0.background = .selection
                    $0.foreground = .selectionText
                }
            }
        }
    }

    /// A screen's rows as shown: filtered by name, sorted by its sort column.
    static func screenRows<Row>(
        _ rows: [Row], name: (Row) -> String, columns: [Column<Row>], screen: Screen, context: FrameContext
    ) -> [Row] {
        let filtered = rows.filter { context.matches(name($0)) }
        let index = min(context.view.sortIndex(screen), columns.count - 1)
        return sorted(filtered, by: columns[index], descending: context.view.descending(screen))
    }

    /// A screen's table, or a message in its place when there are no rows.
    static func drawScreen<Row>(
        _ rows: [Row], columns: [Column<Row>], screen: Screen, empty: String, context: FrameContext,
        into grid: inout CellGrid, area: Rect, tableArea: Rect
    ) {
        if rows.isEmpty {
            let message = context.view.filter.isEmpty ? empty : "Nothing matches \"\(context.view.filter)\"."
            grid.put(message, x: area.x + 1, y: area.y + 1, style: .muted, maxWidth: area.width - 2)
        }
        draw(
            rows, columns: columns, sortColumn: context.view.sortIndex(screen), descending: context.view.descending(screen),
            selection: rows.isEmpty ? nil : context.view.selection, scroll: context.view.scroll, into: &grid,
            area: rows.isEmpty ? Rect(x: area.x, y: area.y, width: area.width, height: 1) : tableArea
        )
    }
}
