import WharfMetrics

/// The parts around every screen: the header with the broker-wide figures,
/// the tab bar, the footer with the keys, and the help overlay.
public enum Chrome {
    /// Rows the header takes at this terminal height. A durable broker's
    /// storage gets a fourth row when the terminal has 24 rows or more.
    public static func headerHeight(_ height: Int, storage: Bool = false) -> Int {
        height >= 24 && storage ? 4 : height >= 20 ? 3 : 2
    }

    public static func drawHeader(_ context: FrameContext, overThreshold: Int, into grid: inout CellGrid) {
        let width = grid.width
        grid.fill(x: 0, y: 0, width: width, height: 1, Cell(" ", .title))
        let snapshots = context.nodes.compactMap(\.latest)
        var title = " wharf top │ "
        title += context.nodes.count == 1 ? context.nodes[0].label : "\(context.nodes.count) nodes"
        if let cluster = context.nodes.first?.latest?.cluster {
            let live = cluster.liveNodes.count
            title += " │ cluster \(cluster.node) · \(live) \(live == 1 ? "node" : "nodes")"
        }
        if let version = snapshots.first?.version { title += " │ v\(version)" }
        if let uptime = snapshots.map(\.uptimeSeconds).min() { title += " │ up \(Formatters.duration(uptime))" }
        grid.put(title, x: 0, y: 0, style: .title)
        // Right side: what needs attention.
        var flags: [(String, Style)] = []
        let down = context.nodes.filter { if case .disconnected = $0.status { return true } else { return false } }
        if !down.isEmpty {
            flags.append(
                (
                    context.multiNode ? " \(down.count) disconnected, retrying " : " disconnected, retrying ",
                    Style(.background, on: .critical, bold: true)
                ))
        }
        if overThreshold > 0 {
            flags.append((" \(overThreshold) over threshold ", Style(.background, on: .warning, bold: true)))
        }
        // A full store refuses new messages: flagged on every screen, whatever the header's height.
        let full = snapshots.filter { $0.storage?.full == true }.count
        if full > 0 {
            flags.append((context.multiNode ? " \(full) storage full " : " storage full ", Style(.background, on: .critical, bold: true)))
        }
        if context.view.paused { flags.append((" PAUSED ", Style(.background, on: .accent, bold: true))) }
        var x = width
        for (text, style) in flags.reversed() {
            x -= text.count
            if x > title.count { grid.put(text, x: x, y: 0, style: style) }
        }

        // Line 2: connections and traffic.
        let connections = snapshots.reduce(0) { $0 + $1.connections.current }
        let maximum = snapshots.reduce(0) { $0 + $1.connections.maximum }
        var x2 = 1
        func segment(_ label: String, _ value: String, _ style: Style = .plain, y: Int = 1) {
            guard x2 < width - 2 else { return }
            x2 += grid.put(label, x: x2, y: y, style: .muted)
            x2 += grid.put(value, x: x2, y: y, style: style.bolded())
            x2 += 2
        }
        segment("conn ", "\(connections)/\(maximum)")
        let inRates = context.nodes.map(\.messagesIn)
        let outRates = context.nodes.map(\.messagesOut)
        segment("in ", optional(Totals.rate(context.nodes) { $0.messages.receivedTotal }, Formatters.rate))
        if width >= 100 {
            x2 += grid.put(Sparkline.render(summed(inRates), width: 12), x: x2, y: 1, style: Style(.graphMid)) + 2
        }
        segment("out ", optional(Totals.rate(context.nodes) { $0.messages.deliveredTotal }, Formatters.rate))
        if width >= 100 {
            x2 += grid.put(Sparkline.render(summed(outRates), width: 12), x: x2, y: 1, style: Style(.graphMid)) + 2
        }
        segment(
            "bytes ",
            optional(Totals.rate(context.nodes) { $0.traffic.bytesReceivedTotal }, Formatters.byteRate) + " in, "
                + optional(Totals.rate(context.nodes) { $0.traffic.bytesSentTotal }, Formatters.byteRate) + " out")

        // Line 3: latency, drops, lag.
        guard headerHeight(grid.height) >= 3 else { return }
        x2 = 1
        segment("p50 ", optional(snapshots.compactMap(\.latency.publishToDeliver.p50).max(), Formatters.duration), y: 2)
        let p99 = snapshots.compactMap(\.latency.publishToDeliver.p99).max()
        segment("p99 ", optional(p99, Formatters.duration), Style(context.thresholds.p99.level(p99).role), y: 2)
        let dropRate = Totals.rate(context.nodes) { $0.messages.droppedTotal.values.reduce(0, +) }
        segment("drops ", optional(dropRate, Formatters.rate), (dropRate ?? 0) > 0 ? Style(.warning) : .plain, y: 2)
        let maxLag = snapshots.flatMap(\.queues).map(\.lagSeconds).max()
        segment(
            "max lag ", maxLag.map { $0 > 0 ? Formatters.duration($0) : "0" } ?? "-",
            Style(context.thresholds.lagSeconds.level(maxLag).role), y: 2)
        let queued = snapshots.reduce(0) { $0 + $1.queues.reduce(0) { $0 + $1.depth } }
        segment("queued ", Formatters.count(queued), y: 2)
        let deadLetters = snapshots.reduce(0) { $0 + $1.messages.deadLetteredTotal }
        segment("dead letters ", Formatters.count(deadLetters), deadLetters > 0 ? Style(.warning) : .plain, y: 2)
        // With an ACL: what it refused (publishes, subscriptions, deliveries).
        let denials = snapshots.compactMap(\.authorizationDeniedTotal)
        if !denials.isEmpty {
            let denied = denials.reduce(0) { $0 + $1.values.reduce(0, +) }
            segment("denied ", Formatters.count(denied), denied > 0 ? Style(.warning) : .plain, y: 2)
        }

        // Line 4, for a durable broker: the store.
        guard headerHeight(grid.height, storage: context.hasStorage) >= 4 else { return }
        x2 = 1
        let stores = snapshots.compactMap(\.storage)
        let bytes = stores.reduce(0) { $0 + $1.bytes }
        let anyFull = stores.contains(where: \.full)
        // Warning from 90% of a quota (the WharfStorageNearQuota alert), critical when full.
        let nearQuota = stores.contains { store in store.quotaBytes.map { $0 > 0 && Double(store.bytes) >= 0.9 * Double($0) } ?? false }
        let diskStyle = anyFull ? Style(.critical) : nearQuota ? Style(.warning) : .plain
        segment("disk ", "\(Formatters.bytes(Double(bytes))) / \(stores.reduce(0) { $0 + $1.segments }) seg", diskStyle, y: 3)
        if stores.allSatisfy({ $0.fsyncPolicy == "never" }) {
            segment("fsync ", "never", y: 3)
        } else {
            segment("fsync p99 ", optional(StorageFigures.fsyncP99(context.nodes), Formatters.duration), y: 3)
        }
        segment("batch ", optional(StorageFigures.commitBatch(context.nodes), Formatters.threeFigures), y: 3)
        if anyFull, x2 + 4 <= width - 1 { grid.put("FULL", x: x2, y: 3, style: Style(.critical, bold: true)) }
    }

    /// Element-wise sum of several nodes' series (aligned at the newest point).
    static func summed(_ series: [[Double]]) -> [Double] {
        guard let longest = series.map(\.count).max(), longest > 0 else { return [] }
        return (0..<longest).map { index in
            series.reduce(0) { total, values in
                let offset = values.count - longest + index
                return total + (offset >= 0 ? values[offset] : 0)
            }
        }
    }

    public static func drawTabs(_ view: ViewState, y: Int, into grid: inout CellGrid) {
        grid.fill(x: 0, y: y, width: grid.width, height: 1, Cell(" ", Style(.muted)))
        var x = 1
        for screen in Screen.allCases {
            let label = " \(screen.rawValue) \(screen.title) "
            let style = screen == view.screen ? Style(.background, on: .accent, bold: true) : Style(.muted)
            x += grid.put(label, x: x, y: y, style: style) + 1
        }
        if !view.filter.isEmpty || view.editingFilter {
            let text = "filter: \(view.filter)\(view.editingFilter ? "█" : "")"
            let start = max(x + 1, grid.width - text.count - 1)
            grid.put(text, x: start, y: y, style: Style(.accent, bold: true))
        }
    }

    public static let keys: [(String, String)] = [
        ("q", "quit"), ("?", "help"), ("Tab/1-6", "screens"), ("↑↓ PgUp PgDn Home End", "move"),
        ("s", "sort"), ("S", "reverse"), ("/", "filter"), ("p", "pause"), ("Enter", "details"),
    ]

    /// - Parameter problem: why a broker is not answering, shown in place of
    ///   the keys (which `?` still lists): "disconnected" alone does not say
    ///   whether to fix a certificate, a token or the address.
    public static func drawFooter(_ view: ViewState, problem: String? = nil, into grid: inout CellGrid) {
        let y = grid.height - 1
        grid.fill(x: 0, y: y, width: grid.width, height: 1, Cell(" ", Style(.muted)))
        if let problem, !view.editingFilter {
            grid.put(" " + problem, x: 0, y: y, style: Style(.critical, bold: true), maxWidth: grid.width)
            return
        }
        if view.editingFilter {
            var x = grid.put(" Enter ", x: 0, y: y, style: .accent)
            x += grid.put("apply  ", x: x, y: y, style: .muted)
            x += grid.put("Esc ", x: x, y: y, style: .accent)
            grid.put("clear the filter", x: x, y: y, style: .muted)
            return
        }
        var x = 1
        for (key, action) in keys {
            guard x + key.count + action.count + 2 < grid.width else { break }
            x += grid.put(key, x: x, y: y, style: .accent)
            x += grid.put(" " + action + "  ", x: x, y: y, style: .muted)
        }
    }

    public static let help: [(String, String)] = [
        ("Tab, Shift-Tab", "next / previous screen"),
        ("1 … 6", "Queues, Groups, Clients, Topics, Latency, Nodes"),
        ("↑ ↓  k j", "move the selection"),
        ("PgUp PgDn", "move a page"),
        ("Home End  g G", "first / last row"),
        ("s", "sort by the next column"),
        ("S", "reverse the sort"),
        ("/", "filter rows by name (Enter applies, Esc clears)"),
        ("p", "pause / resume refreshing"),
        ("Enter", "details of the selected queue or client; open/close a topic"),
        ("← →", "close / open a topic"),
        ("Esc", "close details, help or the filter"),
        ("?", "show / hide this help"),
        ("q, Ctrl-C", "quit"),
    ]

    public static func drawHelp(into grid: inout CellGrid) {
        let width = min(grid.width - 4, 72)
        let height = min(grid.height - 2, help.count + 4)
        let x = (grid.width - width) / 2
        let y = (grid.height - height) / 2
        grid.fill(x: x, y: y, width: width, height: height, Cell(" ", .plain))
        grid.box(x: x, y: y, width: width, height: height, title: "keys")
        for (offset, (key, action)) in help.prefix(height - 4).enumerated() {
            grid.put(Formatters.fit(key, 16), x: x + 2, y: y + 2 + offset, style: .accent)
            grid.put(action, x: x + 19, y: y + 2 + offset, maxWidth: width - 21)
        }
        grid.put("any key closes", x: x + 2, y: y + height - 1, style: Style(.muted, on: .background))
    }
}

/// Figures about the durable store derived from two snapshots.
enum StorageFigures {
    /// Submissions per group commit between the last two snapshots, over
    /// every node with a store: the group-commit batch size now. Nil before
    /// the second snapshot and while nothing is committed.
    static func commitBatch(_ nodes: [NodeHistory]) -> Double? {
        guard let commits = Totals.rate(nodes, { $0.storage?.commitsTotal ?? 0 }), commits > 0,
            let submissions = Totals.rate(nodes, { $0.storage?.committedSubmissionsTotal ?? 0 })
        else { return nil }
        return submissions / commits
    }

    /// The 99th percentile of the fsyncs between the last two snapshots,
    /// over every node, interpolated in the buckets as `histogram_quantile`
    /// does: what fsync costs now, not since the broker started. Without
    /// an fsync in that interval (or before a second snapshot), the
    /// broker's own p99.
    static func fsyncP99(_ nodes: [NodeHistory]) -> Double? {
        var bounds: [Double] = []
        var cumulative: [Int] = []
        var largest: Double?
        for node in nodes {
            guard let now = node.latest?.storage?.fsyncLatency, let before = node.previous?.storage?.fsyncLatency,
                let nowBuckets = now.buckets, let beforeBuckets = before.buckets, now.count > before.count,
                nowBuckets.count == beforeBuckets.count, zip(nowBuckets, beforeBuckets).allSatisfy({ $0.le == $1.le })
            else { continue }
            if bounds.isEmpty {
                bounds = nowBuckets.map(\.le)
                cumulative = Array(repeating: 0, count: bounds.count)
            }
            guard bounds == nowBuckets.map(\.le) else { continue }
            for index in bounds.indices { cumulative[index] += max(0, nowBuckets[index].count - beforeBuckets[index].count) }
            if let max = now.max { largest = Swift.max(largest ?? 0, max) }
        }
        if let p99 = quantile(0.99, bounds: bounds, cumulative: cumulative, largest: largest) { return p99 }
        return nodes.compactMap { $0.latest?.storage?.fsyncLatency.p99 }.max()
    }

    /// The q-quantile of cumulative bucket counts (the last bound +Inf);
    /// never above the largest value seen.
    static func quantile(_ q: Double, bounds: [Double], cumulative: [Int], largest: Double?) -> Double? {
        guard let total = cumulative.last, total > 0 else { return nil }
        let rank = q * Double(total)
        for (index, count) in cumulative.enumerated() where Double(count) >= rank {
            let below = index == 0 ? 0 : cumulative[index - 1]
            let lower = index == 0 ? 0 : bounds[index - 1]
            let upper = bounds[index]
            let value: Double
            if upper.isInfinite {
                value = lower
            } else {
                let inBucket = count - below
                value = lower + (upper - lower) * (inBucket > 0 ? (rank - Double(below)) / Double(inBucket) : 1)
            }
            return largest.map { Swift.min($0, value) } ?? value
        }
        return nil
    }
}
