import Testing
import WharfMetrics

@testable import WharfTop

@Suite struct FrameTests {
    static var busyNode: NodeHistory {
        let queuesBefore = [
            TestSnapshots.queue("orders", depth: 10, enqueued: 100, delivered: 90),
            TestSnapshots.queue("audit", depth: 0, enqueued: 5, delivered: 5),
        ]
        let queuesAfter = [
            TestSnapshots.queue("orders", depth: 700, lagSeconds: 75, p99: 0.2, enqueued: 900, delivered: 200),
            TestSnapshots.queue("audit", depth: 0, enqueued: 5, delivered: 5),
        ]
        return TestSnapshots.node(
            TestSnapshots.snapshot(at: 1999, received: 100, delivered: 100, queues: queuesBefore),
            TestSnapshots.snapshot(at: 2000, received: 1300, delivered: 500, queues: queuesAfter)
        )
    }

    /// The Queues screen shows each queue's figures and the rates derived from two snapshots.
    @Test func queuesScreenShowsFigures() {
        let frame = FrameBuilder.build(TestSnapshots.context([Self.busyNode]), width: 120, height: 30)
        let text = frame.grid.text
        let orders = try! #require(text.split(separator: "\n").first { $0.contains(" orders ") })
        #expect(orders.contains("700"))
        #expect(orders.contains("800/s"), "in/s = (900 - 100) / 1 s")
        #expect(orders.contains("1m 15s"))
        #expect(orders.contains("200 ms"))
        #expect(text.contains("in 1.2k/s"), "header: broker-wide received rate")
        #expect(text.contains("1 over threshold"))
        #expect(frame.rowCount == 2)
    }

    /// Sorted by lag (the default) the lagging queue is first; `S` reverses.
    @Test func sortingAndReverse() {
        var view = ViewState()
        let rows = QueuesScreen.rows(TestSnapshots.context([Self.busyNode], view: view))
        #expect(rows.map(\.name) == ["orders", "audit"])
        view.sortDescending[.queues] = false
        #expect(QueuesScreen.rows(TestSnapshots.context([Self.busyNode], view: view)).map(\.name) == ["audit", "orders"])
        view.sortColumn[.queues] = 0  // by name
        view.sortDescending[.queues] = true
        #expect(QueuesScreen.rows(TestSnapshots.context([Self.busyNode], view: view)).map(\.name) == ["orders", "audit"])
    }

    /// `/` filters rows by name, case-insensitively.
    @Test func filtering() {
        var view = ViewState()
        view.filter = "AUD"
        let frame = FrameBuilder.build(TestSnapshots.context([Self.busyNode], view: view), width: 100, height: 24)
        #expect(frame.rowCount == 1)
        #expect(frame.grid.text.contains("filter: AUD"))
        #expect(!frame.grid.text.contains(" orders "))
        view.filter = "zzz"
        #expect(
            FrameBuilder.build(TestSnapshots.context([Self.busyNode], view: view), width: 100, height: 24).grid.text.contains(
                "Nothing matches \"zzz\""))
    }

    /// 80x24 fits every essential column; narrower terminals drop the optional ones; tiny ones say so.
    @Test(arguments: [(80, 24), (100, 30), (160, 50), (60, 15), (40, 10)])
    func layoutAtSizes(width: Int, height: Int) {
        let frame = FrameBuilder.build(TestSnapshots.context([Self.busyNode]), width: width, height: height)
        let lines = frame.grid.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == height)
        #expect(lines.allSatisfy { $0.count == width })
        #expect(lines[0].contains("wharf top"))
        let heading = lines.first { $0.contains("QUEUE") }
        #expect(heading != nil)
        #expect(heading!.contains("DEPTH") && heading!.contains("LAG"))
        if width >= 80 { #expect(heading!.contains("OUT/S") && heading!.contains("P99")) }
        if width < 70 { #expect(!heading!.contains("OUT/S")) }
        #expect(lines.last!.contains("q quit"))
    }

    /// The Groups screen lists each group and, under it, its members.
    @Test func groupsScreen() {
        func snap(at t: Double, delivered: Int) -> MetricsSnapshot {
            var s = TestSnapshots.snapshot(at: t)
            s.groups = [
                GroupSnapshot(
                    name: "fulfilment", filter: "orders/#", consumers: 1, depth: 12, inflight: 4, enqueuedTotal: 100,
                    deliveredTotal: delivered,
                    acknowledgedTotal: 80, redeliveredTotal: 0, lagMessages: 16, lagSeconds: 2, oldestMessageAgeSeconds: 1,
                    members: [
                        .init(clientId: "worker-1", online: true, inflight: 4, deliveredTotal: delivered),
                        .init(clientId: "worker-2", online: false, inflight: 0, deliveredTotal: 0),
                    ]
                )
            ]
            return s
        }
        var view = ViewState()
        view.screen = .groups
        let node = TestSnapshots.node(snap(at: 1999, delivered: 60), snap(at: 2000, delivered: 90))
        let lines = FrameBuilder.build(TestSnapshots.context([node], view: view), width: 120, height: 30).grid.text.split(separator: "\n")
        let groupLine = try! #require(lines.first { $0.contains("fulfilment") })
        #expect(groupLine.contains("orders/#") && groupLine.contains("12") && groupLine.contains("30/s"))
        #expect(lines.contains { $0.contains("worker-1") && $0.contains("30/s") })
        let member = try! #require(lines.first { $0.contains("worker-1") })
        #expect(member.split(separator: " ").filter { $0 == "4" }.count == 2, "in flight and lag: the 4 it holds")
        #expect(lines.contains { $0.contains("worker-2 (offline)") })
    }

    @Test func tooSmall() {
        let frame = FrameBuilder.build(TestSnapshots.context([Self.busyNode]), width: 30, height: 8)
        #expect(frame.grid.text.contains("terminal too small"))
    }

    /// `?` draws a complete box listing every key.
    @Test func helpOverlay() {
        var view = ViewState()
        view.helpVisible = true
        let text = FrameBuilder.build(TestSnapshots.context([Self.busyNode], view: view), width: 100, height: 30).grid.text
        for (key, _) in Chrome.help { #expect(text.contains(key)) }
        let lines = text.split(separator: "\n")
        let top = try! #require(lines.first { $0.contains("┌") })
        let bottom = try! #require(lines.first { $0.contains("└") })
        #expect(top.contains("┐") && bottom.contains("┘"))
    }

    /// A broker that stops answering is shown as disconnected, with its last data kept.
    @Test func disconnectedNode() {
        var node = Self.busyNode
        node.failed("connection refused")
        let text = FrameBuilder.build(TestSnapshots.context([node]), width: 100, height: 24).grid.text
        #expect(text.contains("disconnected, retrying"))
        #expect(text.contains(" orders "))
        // Why, in the footer: the fix differs for a refused connection, a
        // certificate or a token.
        #expect(text.contains("connection refused"))
    }

    /// Several nodes: a NODE column and totals in the header.
    @Test func severalNodes() {
        let a = Self.busyNode
        let b = TestSnapshots.node(
            TestSnapshots.snapshot(at: 1999, received: 0, queues: [TestSnapshots.queue("orders", depth: 1)]),
            TestSnapshots.snapshot(at: 2000, received: 100, queues: [TestSnapshots.queue("orders", depth: 2)]),
            url: "http://10.0.0.2:18883")
        let text = FrameBuilder.build(TestSnapshots.context([a, b]), width: 140, height: 30).grid.text
        #expect(text.contains("2 nodes"))
        #expect(text.contains("NODE"))
        #expect(text.contains("10.0.0.2:18883"))
        #expect(text.contains("in 1.3k/s"), "1,200/s + 100/s")
    }

    /// Only changed cells are redrawn: an unchanged frame yields no runs.
    @Test func diffing() {
        let context = TestSnapshots.context([Self.busyNode])
        let first = FrameBuilder.build(context, width: 100, height: 30).grid
        #expect(!first.changes(since: nil).isEmpty)
        #expect(first.changes(since: first).isEmpty)
        var view = ViewState()
        view.selection = 1
        let second = FrameBuilder.build(TestSnapshots.context([Self.busyNode], view: view), width: 100, height: 30).grid
        let runs = second.changes(since: first)
        #expect(!runs.isEmpty && Set(runs.map(\.y)).count <= 3, "selection moved: only those rows change")
    }
}

/// The Clients screen says which listener each client came in on, and whether over TLS.
@Suite struct ClientListenerTests {
    static func client(_ id: String, listener: String?, tls: Bool?) -> ClientSnapshot {
        var client = ClientSnapshot(
            clientId: id, address: "127.0.0.1:5000", protocolVersion: "5.0", persistent: false, connectedAtSeconds: 1990, inflight: 0,
            queued: 0, messagesReceivedTotal: 0, messagesSentTotal: 0, bytesReceivedTotal: 0, bytesSentTotal: 0)
        client.listener = listener
        client.tls = tls
        return client
    }

    @Test func listenerColumnAndDetail() {
        let clients = [Self.client("browser", listener: "wss:8084", tls: true), Self.client("sensor", listener: "mqtt:1883", tls: false)]
        let node = TestSnapshots.node(
            TestSnapshots.snapshot(at: 1999, clients: clients), TestSnapshots.snapshot(at: 2000, clients: clients))
        var view = ViewState()
        view.screen = .clients
        let text = FrameBuilder.build(TestSnapshots.context([node], view: view), width: 140, height: 30).grid.text
        let browser = text.split(separator: "\n").first { $0.contains("browser") }
        #expect(browser?.contains("wss:8084") == true)
        #expect(text.contains("LISTENER"))
        view.detail = "browser"
        let detail = FrameBuilder.build(TestSnapshots.context([node], view: view), width: 140, height: 30).grid.text
        #expect(detail.contains("listener wss:8084   TLS"))
        // Too narrow for the column: the detail box still tells.
        #expect(!FrameBuilder.build(TestSnapshots.context([node], view: view), width: 100, height: 30).grid.text.contains("LISTENER"))
    }
}

/// With an ACL, the header counts what it denied.
@Suite struct AuthorizationHeaderTests {
    @Test func deniedCountInTheHeader() {
        var first = TestSnapshots.snapshot(at: 1999)
        var second = TestSnapshots.snapshot(at: 2000)
        let plain = FrameBuilder.build(TestSnapshots.context([TestSnapshots.node(first, second)]), width: 160, height: 30).grid.text
        #expect(!plain.contains("denied"), "no ACL, no figure")
        first.authorizationDeniedTotal = ["publish": 1, "subscribe": 0, "receive": 0]
        second.authorizationDeniedTotal = ["publish": 3, "subscribe": 2, "receive": 7]
        let text = FrameBuilder.build(TestSnapshots.context([TestSnapshots.node(first, second)]), width: 160, height: 30).grid.text
        #expect(text.contains("denied 12"))
    }
}
