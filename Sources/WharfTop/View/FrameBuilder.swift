/// A built frame, and what the key handler needs to know about it.
public struct Frame: Sendable {
    public var grid: CellGrid
    /// Rows on the current screen (for moving the selection).
    public var rowCount: Int
    /// Rows visible at once (for PgUp/PgDn).
    public var pageHeight: Int
    /// First visible row, kept so the selection stays in view.
    public var scroll: Int
    /// The selected row's key: queue name, client id or topic path.
    public var selectedKey: String?
    /// Whether the selected topic has children (Enter toggles it).
    public var selectedIsBranch: Bool
}

/// Lays out one frame: header, tabs, the current screen, footer, and the
/// help overlay. Pure: the same context and size give the same cells, which
/// is what the tests check.
public enum FrameBuilder {
    public static let minimumWidth = 40
    public static let minimumHeight = 10

    public static func build(_ context: FrameContext, width: Int, height: Int) -> Frame {
        var grid = CellGrid(width: width, height: height)
        guard width >= minimumWidth, height >= minimumHeight else {
            grid.put(
                "terminal too small: \(width)x\(height), wharf top needs \(minimumWidth)x\(minimumHeight)", x: 0, y: 0, maxWidth: width)
            return Frame(grid: grid, rowCount: 0, pageHeight: 1, scroll: 0, selectedKey: nil, selectedIsBranch: false)
        }
        let headerHeight = Chrome.headerHeight(height, storage: context.hasStorage)
        let content = Rect(x: 1, y: headerHeight + 1, width: width - 2, height: height - headerHeight - 2)
        var view = context.view
        var rowCount = 0
        var selectedKey: String?
        var branch = false
        let pageHeight = max(1, content.height - 1 - (view.detail != nil ? 9 : 0))

        let queueRows = QueuesScreen.rows(context)
        let overThreshold = queueRows.filter { row in
            context.thresholds.depth.level(Double(row.depth)) > .normal
                || context.thresholds.lagSeconds.level(row.lagSeconds) > .normal
                || context.thresholds.p99.level(row.p99) > .normal
        }.count

        func clampSelection(_ count: Int) {
            rowCount = count
            view.selection = count == 0 ? 0 : max(0, min(view.selection, count - 1))
            view.scroll = Table.scroll(selection: view.selection, previous: view.scroll, height: pageHeight, count: count)
        }

        var ctx = context
        switch view.screen {
        case .queues:
            clampSelection(queueRows.count)
            ctx.view = view
            selectedKey = queueRows.indices.contains(view.selection) ? queueRows[view.selection].name : nil
            QueuesScreen.draw(ctx, rows: queueRows, into: &grid, area: content)
        case .clients:
            let rows = ClientsScreen.rows(context)
            clampSelection(rows.count)
            ctx.view = view
            selectedKey = rows.indices.contains(view.selection) ? rows[view.selection].clientId : nil
            ClientsScreen.draw(ctx, rows: rows, into: &grid, area: content)
        case .topics:
            let rows = TopicsScreen.rows(context)
            clampSelection(rows.count)
            ctx.view = view
            if rows.indices.contains(view.selection) {
                selectedKey = rows[view.selection].path
                branch = rows[view.selection].hasChildren
            }
            TopicsScreen.draw(ctx, rows: rows, into: &grid, area: content)
        case .groups:
            let rows = GroupsScreen.rows(context)
            clampSelection(rows.count)
            ctx.view = view
            selectedKey = rows.indices.contains(view.selection) ? rows[view.selection].member ?? rows[view.selection].group : nil
            GroupsScreen.draw(ctx, rows: rows, into: &grid, area: content)
        case .latency:
            clampSelection(0)
            LatencyScreen.draw(ctx, into: &grid, area: content)
        case .nodes:
            clampSelection(0)
            NodesScreen.draw(ctx, into: &grid, area: content)
        }
        Chrome.drawHeader(ctx, overThreshold: overThreshold, into: &grid)
        Chrome.drawTabs(view, y: headerHeight, into: &grid)
        Chrome.drawFooter(view, problem: context.problem, into: &grid)
        if view.helpVisible { Chrome.drawHelp(into: &grid) }
        return Frame(
            grid: grid, rowCount: rowCount, pageHeight: pageHeight, scroll: view.scroll, selectedKey: selectedKey, selectedIsBranch: branch)
    }
}
