/// Screen 2: consumer groups (shared subscriptions). The broker reports
/// none until it supports `$share/<group>/<filter>`; the screen says so
/// rather than showing an empty table.
public enum GroupsScreen {
    public static func draw(_ context: FrameContext, into grid: inout CellGrid, area: Rect) {
        let lines = [
            "No consumer groups on \(context.multiNode ? "these brokers" : "this broker").",
            "A group is a shared subscription ($share/<group>/<filter>): each message goes to one member.",
            "Wharf does not accept shared subscriptions yet; this screen lists them once it does.",
        ]
        for (offset, line) in lines.enumerated() {
            grid.put(line, x: area.x + 1, y: area.y + 1 + offset, style: offset == 0 ? .plain : .muted, maxWidth: area.width - 2)
        }
    }
}
