import Foundation
import Testing
import WharfMetrics

@testable import WharfTop

/// The Nodes screen and the header in cluster mode.
@Suite struct ClusterNodesTests {
    static func cluster(
        _ name: String, ready: Bool = true, reason: String? = nil, connected: Bool = true, forwarded: [String: Int] = [:],
        received: Int = 0, pending: Int = 0, failures: Int = 0
    ) -> ClusterSnapshot {
        ClusterSnapshot(
            node: name, bootId: "boot-\(name)", ready: ready, notReadyReason: reason,
            liveNodes: [
                .init(name: "node-1", metricsURL: "http://10.0.0.1:18883", startedAtSeconds: 1000),
                .init(name: "node-2", metricsURL: "http://10.0.0.2:18883", startedAtSeconds: 1000),
            ],
            durability: "replicated", replicas: 3,
            nats: .init(
                connected: connected, server: connected ? "nats://10.0.0.9:4222" : nil, reconnectsTotal: 0,
                roundTripSeconds: connected ? 0.0015 : nil, pendingRequests: 0, lastError: nil),
            forwardedTotal: forwarded, receivedTotal: received, forwardsPending: pending, forwardFailuresTotal: failures, remoteRoutes: 4,
            jetStreamLatency: TestSnapshots.emptyLatency, errorsTotal: [:])
    }

    static func node(_ url: String, _ first: ClusterSnapshot?, _ second: ClusterSnapshot?) -> NodeHistory {
        var before = TestSnapshots.snapshot(at: 1999)
        before.cluster = first
        var after = TestSnapshots.snapshot(at: 2000)
        after.cluster = second
        return TestSnapshots.node(before, after, url: url)
    }

    /// node-1 ready and forwarding 200/s (100 QoS 0 + 100 QoS 1), receiving 50/s;
    /// node-2 not ready, cut off from NATS, with failed forwards.
    static var nodes: [NodeHistory] {
        [
            node(
                "http://10.0.0.1:18883", cluster("node-1", forwarded: ["0": 100, "1": 20], received: 40),
                cluster("node-1", forwarded: ["0": 200, "1": 120], received: 90, pending: 3)),
            node(
                "http://10.0.0.2:18883", cluster("node-2", forwarded: ["1": 5], received: 10, failures: 2),
                cluster(
                    "node-2", ready: false, reason: "no NATS connection", connected: false, forwarded: ["1": 5], received: 10,
                    failures: 7)),
        ]
    }

    static func frame(_ nodes: [NodeHistory], width: Int = 140, height: Int = 40) -> CellGrid {
        var view = ViewState()
        view.screen = .nodes
        return FrameBuilder.build(TestSnapshots.context(nodes, view: view), width: width, height: height).grid
    }

    /// The Nodes screen's row for `label`, from the label on.
    static func row(_ grid: CellGrid, _ label: String) -> String? {
        grid.text.split(separator: "\n").map { String($0.drop { $0 == " " }) }.first { $0.hasPrefix(label + "  ") }
    }

    /// A row's values after its label, split where they are two or more spaces apart.
    static func cells(_ row: String) -> [String] {
        String(row.dropFirst(17)).components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Each node's name, readiness or the reason, NATS server and round trip, live nodes,
    /// forwarded and received rates, pending forwards and failures; totals beside them.
    @Test func nodesScreenShowsTheCluster() throws {
        let grid = Self.frame(Self.nodes)
        let expected: [(String, [String])] = [
            ("cluster node", ["node-1", "node-2"]),
            ("cluster ready", ["ready", "no NATS connection"]),
            ("NATS", ["nats://10.0.0.9:4222", "disconnected"]),
            ("NATS round trip", ["1.5 ms", "-"]),
            ("live nodes", ["2", "2"]),
            ("forwarded", ["200/s", "0/s", "200/s"]),
            ("received", ["50/s", "0/s", "50/s"]),
            ("pending forwards", ["3", "0", "3"]),
            ("forward failures", ["0", "7", "7"]),
        ]
        for (label, values) in expected {
            let row = try #require(Self.row(grid, label), "no row \(label)")
            #expect(Self.cells(row) == values, "\(label): \(row)")
            for value in values { #expect(row.contains(value), "\(label): \(value) missing in \(row)") }
        }
    }

    /// A node that is not ready, or has lost NATS, shows it in the critical colour.
    @Test func notReadyIsCritical() throws {
        let grid = Self.frame(Self.nodes)
        let lines = grid.text.split(separator: "\n").map(String.init)
        let y = try #require(lines.firstIndex { $0.drop { $0 == " " }.hasPrefix("cluster ready  ") })
        let x = try #require(lines[y].range(of: "no NATS connection")).lowerBound.utf16Offset(in: lines[y])
        #expect(grid[x, y].style.foreground == .critical)
        let readyX = try #require(lines[y].range(of: "ready")).lowerBound.utf16Offset(in: lines[y])
        #expect(grid[readyX, y].style.foreground != .critical)
    }

    /// The header names the first node's cluster and how many nodes are live.
    @Test func headerMarksTheCluster() {
        let first = Self.frame(Self.nodes).line(0)
        #expect(first.contains("cluster node-1 · 2 nodes"))
        let single = Self.frame([TestSnapshots.node(TestSnapshots.snapshot(at: 1999), TestSnapshots.snapshot(at: 2000))]).line(0)
        #expect(!single.contains("cluster"))
    }

    /// Without a cluster section anywhere the Nodes screen has no cluster rows;
    /// beside a cluster node, a single node shows "-" in them.
    @Test func singleNodesHaveNoClusterRows() throws {
        let single = TestSnapshots.node(TestSnapshots.snapshot(at: 1999), TestSnapshots.snapshot(at: 2000), url: "http://10.0.0.3:18883")
        let alone = Self.frame([single])
        #expect(Self.row(alone, "cluster node") == nil)
        #expect(Self.row(alone, "forwarded") == nil)
        #expect(Self.row(alone, "messages in") != nil)
        let mixed = Self.frame([Self.nodes[0], single])
        let row = try #require(Self.row(mixed, "cluster ready"))
        #expect(Self.cells(row).suffix(2) == ["ready", "-"], "\(row)")
    }

    /// Rates need a cluster section in both snapshots: a node that just joined shows none yet.
    @Test func rateNeedsTwoClusterSnapshots() {
        let joined = Self.node("http://10.0.0.1:18883", nil, Self.cluster("node-1", forwarded: ["0": 500], received: 60))
        #expect(ClusterFigures.rate(joined, ClusterFigures.forwarded) == nil)
        let row = Self.row(Self.frame([joined]), "forwarded")
        #expect(row.map(Self.cells) == ["-"], "\(row ?? "")")
    }

    /// An 80x24 terminal still shows the cluster rows, under the node's identity.
    @Test func smallTerminalKeepsClusterRows() {
        let grid = Self.frame([Self.nodes[0]], width: 80, height: 24)
        #expect(Self.row(grid, "cluster ready") != nil)
        #expect(Self.row(grid, "forward failures") != nil)
    }
}
