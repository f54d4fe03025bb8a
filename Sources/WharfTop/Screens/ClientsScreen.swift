/// Screen 3: connected clients with their traffic.
public enum ClientsScreen {
    public static func columns(_ context: FrameContext) -> [Column<ClientRow>] {
        let now = context.nowSeconds
        var columns: [Column<ClientRow>] = [
            Column("CLIENT", width: 0, right: false, text: { $0.clientId }, ascending: { $0.clientId < $1.clientId }),
            Column(
                "ADDRESS", width: 21, right: false, minimumTerminalWidth: 100, text: { $0.address }, ascending: { $0.address < $1.address }),
            Column(
                "LISTENER", width: 12, right: false, minimumTerminalWidth: 120, text: { $0.listener },
                ascending: { $0.listener < $1.listener }),
            Column(
                "VER", width: 5, right: false, minimumTerminalWidth: 70, text: { $0.protocolVersion },
                ascending: { $0.protocolVersion < $1.protocolVersion }),
            Column("INFLT", width: 6, text: { Formatters.count($0.inflight) }, ascending: { $0.inflight < $1.inflight }),
            Column("QUEUED", width: 7, text: { Formatters.count($0.queued) }, ascending: { $0.queued < $1.queued }),
            Column("IN/S", width: 8, text: { optional($0.inRate, Formatters.rate) }, ascending: { compare($0.inRate, $1.inRate) }),
            Column("OUT/S", width: 8, text: { optional($0.outRate, Formatters.rate) }, ascending: { compare($0.outRate, $1.outRate) }),
            Column(
                "BYTES IN", width: 9, minimumTerminalWidth: 90, text: { Formatters.bytes(Double($0.bytesIn)) },
                ascending: { $0.bytesIn < $1.bytesIn }),
            Column(
                "BYTES OUT", width: 9, minimumTerminalWidth: 90, text: { Formatters.bytes(Double($0.bytesOut)) },
                ascending: { $0.bytesOut < $1.bytesOut }),
            Column(
                "CONNECTED", width: 9, minimumTerminalWidth: 80, text: { Formatters.duration(max(0, now - $0.connectedAt)) },
                ascending: { $0.connectedAt > $1.connectedAt }),
        ]
        if context.multiNode {
            columns.append(
                Column("NODE", width: 16, right: false, minimumTerminalWidth: 110, text: { $0.node }, ascending: { $0.node < $1.node }))
        }
        return columns
    }

    public static func rows(_ context: FrameContext) -> [ClientRow] {
        Table.screenRows(RowBuilder.clients(context.nodes), name: \.clientId, columns: columns(context), screen: .clients, context: context)
    }

    public static func draw(_ context: FrameContext, rows: [ClientRow], into grid: inout CellGrid, area: Rect) {
        var tableArea = area
        if let id = context.view.detail, let row = rows.first(where: { $0.clientId == id }), area.height >= 15 {
            tableArea.height -= 8
            let box = Rect(x: area.x, y: area.y + tableArea.height, width: area.width, height: 8)
            grid.box(x: box.x, y: box.y, width: box.width, height: box.height, title: "client \(row.clientId)")
            let lines = [
                "address \(row.address)   MQTT \(row.protocolVersion)   \(row.persistent ? "persistent session" : "clean session")   node \(row.node)",
                "listener \(row.listener.isEmpty ? "-" : row.listener)   \(row.tls ? "TLS" : "no TLS")",
                "connected \(Formatters.duration(max(0, context.nowSeconds - row.connectedAt))) ago   in flight \(row.inflight)   queued \(row.queued)",
                "in \(optional(row.inRate, Formatters.rate)), \(Formatters.bytes(Double(row.bytesIn))) total   out \(optional(row.outRate, Formatters.rate)), \(Formatters.bytes(Double(row.bytesOut))) total",
                "Esc closes",
            ]
            for (offset, line) in lines.enumerated() {
                grid.put(
                    line, x: box.x + 2, y: box.y + 1 + offset, style: offset == lines.count - 1 ? .muted : .plain, maxWidth: box.width - 4)
            }
        }
        Table.drawScreen(
            rows, columns: columns(context), screen: .clients, empty: "No clients connected.", context: context,
            into: &grid, area: area, tableArea: tableArea
        )
    }
}
