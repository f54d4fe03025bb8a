/// Screen 2: consumer groups (shared subscriptions), each followed by its
/// members: depth, in flight, lag, and how fast each member takes messages.
public enum GroupsScreen {
    public static func rows(_ context: FrameContext) -> [GroupRow] {
        RowBuilder.groups(context.nodes).filter { context.matches($0.group) || context.matches($0.member ?? "") }
    }

    public static func columns(_ context: FrameContext) -> [Column<GroupRow>] {
        let t = context.thresholds
        var columns: [Column<GroupRow>] = [
            Column(
                "GROUP / MEMBER", width: 0, right: false,
                text: { row in
                    row.member.map { "  " + $0 + ($0.isEmpty ? "" : row.online ? "" : " (offline)") } ?? row.group
                },
                style: { row in
                    row.member == nil ? Style(.foreground, bold: true) : (row.online ? .plain : .muted)
                }, ascending: { $0.group < $1.group }),
            Column(
                "FILTER", width: 18, right: false, minimumTerminalWidth: 90, text: { $0.member == nil ? $0.filter : "" },
                ascending: { $0.filter < $1.filter }),
            Column(
                "DEPTH", width: 7, text: { $0.depth.map(Formatters.count) ?? "" },
                style: { Style(t.depth.level($0.depth.map(Double.init)).role) }, ascending: { ($0.depth ?? 0) < ($1.depth ?? 0) }),
            Column("INFLT", width: 6, text: { Formatters.count($0.inflight) }, ascending: { $0.inflight < $1.inflight }),
            Column(
                "CONS", width: 4, text: { $0.consumers.map(String.init) ?? "" }, ascending: { ($0.consumers ?? 0) < ($1.consumers ?? 0) }),
            Column(
                "DELIV/S", width: 8, text: { optional($0.deliveryRate, Formatters.rate) },
                ascending: { compare($0.deliveryRate, $1.deliveryRate) }),
            Column(
                "LAG", width: 7, text: { $0.lagMessages.map(Formatters.count) ?? "" },
                ascending: { ($0.lagMessages ?? 0) < ($1.lagMessages ?? 0) }),
            Column(
                "LAG s", width: 8, text: { row in row.lagSeconds.map { $0 > 0 ? Formatters.duration($0) : "0" } ?? "" },
                style: { Style(t.lagSeconds.level($0.lagSeconds).role) }, ascending: { ($0.lagSeconds ?? 0) < ($1.lagSeconds ?? 0) }),
        ]
        if context.multiNode {
            columns.append(
                Column("NODE", width: 16, right: false, minimumTerminalWidth: 110, text: { $0.node }, ascending: { $0.node < $1.node }))
        }
        return columns
    }

    public static func draw(_ context: FrameContext, rows: [GroupRow], into grid: inout CellGrid, area: Rect) {
        // Groups keep their members under them, so the table is not re-sorted.
        Table.drawScreen(
            rows, columns: columns(context), screen: .groups,
            empty: "No consumer groups. Subscribe to $share/<group>/<filter> to make one: each message goes to one member.",
            context: context, into: &grid, area: area, tableArea: area
        )
    }
}
