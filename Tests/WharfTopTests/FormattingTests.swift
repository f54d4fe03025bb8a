import Testing

@testable import WharfTop

@Suite struct FormattingTests {
    static let rateCases: [(Double, String)] = [
        (0, "0/s"), (0.5, "0.5/s"), (12, "12/s"), (1234, "1.2k/s"), (34_567, "34.6k/s"), (1_250_000, "1.2M/s"),
    ]
    static let byteCases: [(Double, String)] = [
        (512, "512 B"), (3.4 * 1024 * 1024, "3.4 MiB"), (1536, "1.5 KiB"), (2 * 1024 * 1024 * 1024, "2.0 GiB"),
    ]
    static let durationCases: [(Double, String)] = [
        (0.000850, "850 us"), (0.0123, "12.3 ms"), (0.25, "250 ms"), (1.5, "1.5 s"), (200, "3m 20s"), (7500, "2h 05m"), (273_600, "3d 04h"),
    ]

    @Test func rates() {
        for (value, expected) in Self.rateCases { #expect(Formatters.rate(value) == expected) }
    }

    @Test func bytes() {
        for (value, expected) in Self.byteCases { #expect(Formatters.bytes(value) == expected) }
    }

    @Test func durations() {
        for (value, expected) in Self.durationCases { #expect(Formatters.duration(value) == expected) }
    }

    @Test func counts() {
        #expect(Formatters.count(950) == "950")
        #expect(Formatters.count(1_200) == "1.2k")
        #expect(Formatters.count(123_456) == "123k")
    }

    @Test func fitting() {
        #expect(Formatters.fit("orders", 8) == "orders  ")
        #expect(Formatters.fit("orders", 8, alignRight: true) == "  orders")
        #expect(Formatters.fit("warehouse-east", 8) == "warehou…")
    }

    @Test func sparkline() {
        #expect(Sparkline.render([0, 1, 2, 4], width: 6) == "  ▁▃▅█")
        #expect(Sparkline.render([0, 0], width: 2) == "▁▁")
        #expect(Sparkline.render([1, 2, 3], width: 2) == "▆█", "scaled to the window's own maximum")
    }
}

@Suite struct KeyHandlerTests {
    static let frame = Frame(
        grid: CellGrid(width: 80, height: 24), rowCount: 50, pageHeight: 10, scroll: 0, selectedKey: "orders", selectedIsBranch: false)

    @Test func movement() {
        var view = ViewState()
        KeyHandler.apply(.down, to: &view, frame: Self.frame, sortColumns: 10)
        KeyHandler.apply(.pageDown, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.selection == 11)
        KeyHandler.apply(.end, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.selection == 49)
        KeyHandler.apply(.down, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.selection == 49, "stops at the last row")
        KeyHandler.apply(.home, to: &view, frame: Self.frame, sortColumns: 10)
        KeyHandler.apply(.up, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.selection == 0)
    }

    @Test func screensAndSort() {
        var view = ViewState()
        KeyHandler.apply(.tab, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.screen == .groups)
        KeyHandler.apply(.backTab, to: &view, frame: Self.frame, sortColumns: 10)
        KeyHandler.apply(.backTab, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.screen == .nodes)
        KeyHandler.apply(.character("1"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.screen == .queues)
        let before = view.sortIndex(.queues)
        KeyHandler.apply(.character("s"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.sortIndex(.queues) == (before + 1) % 10)
        let descending = view.descending(.queues)
        KeyHandler.apply(.character("S"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.descending(.queues) == !descending)
    }

    @Test func filterEditing() {
        var view = ViewState()
        for key: Key in [.character("/"), .character("o"), .character("r"), .character("x"), .backspace, .enter] {
            KeyHandler.apply(key, to: &view, frame: Self.frame, sortColumns: 10)
        }
        #expect(view.filter == "or" && !view.editingFilter)
        KeyHandler.apply(.character("q"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.quit, "q quits once the filter is applied")
        var typing = ViewState()
        KeyHandler.apply(.character("/"), to: &typing, frame: Self.frame, sortColumns: 10)
        KeyHandler.apply(.character("q"), to: &typing, frame: Self.frame, sortColumns: 10)
        #expect(!typing.quit && typing.filter == "q", "while typing, q is text")
        KeyHandler.apply(.escape, to: &typing, frame: Self.frame, sortColumns: 10)
        #expect(typing.filter.isEmpty)
    }

    @Test func helpPauseDetailsQuit() {
        var view = ViewState()
        KeyHandler.apply(.character("?"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.helpVisible)
        KeyHandler.apply(.character("q"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(!view.helpVisible && !view.quit, "a key closes help first")
        KeyHandler.apply(.character("p"), to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.paused)
        KeyHandler.apply(.enter, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.detail == "orders")
        KeyHandler.apply(.escape, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.detail == nil)
        KeyHandler.apply(.interrupt, to: &view, frame: Self.frame, sortColumns: 10)
        #expect(view.quit)
    }
}

@Suite struct ModelTests {
    /// Rates come from two snapshots; a restarted broker restarts them instead of going negative.
    @Test func ratesAndRestart() {
        var node = NodeHistory(url: "http://127.0.0.1:18883")
        node.record(TestSnapshots.snapshot(at: 1000, received: 100))
        #expect(node.rate { $0.messages.receivedTotal } == nil)
        node.record(TestSnapshots.snapshot(at: 1002, received: 300))
        #expect(node.rate { $0.messages.receivedTotal } == 100)
        node.record(TestSnapshots.snapshot(at: 1003, received: 5, start: 1002.5))
        #expect(node.rate { $0.messages.receivedTotal } == nil, "restarted: no rate until the next snapshot")
        #expect(node.messagesIn.allSatisfy { $0 >= 0 })
    }

    /// The topic tree nests levels, sums subtrees, and hides collapsed branches.
    @Test func topicTree() {
        let topics: [(String, Int)] = [("plant/a/temp", 10), ("plant/a/hum", 5), ("plant/b/temp", 1), ("orders", 7)]
        let before = TestSnapshots.snapshot(at: 1000, topics: topics.map { .init(name: $0.0, messagesTotal: 0, bytesTotal: 0) })
        let after = TestSnapshots.snapshot(
            at: 1001, topics: topics.map { .init(name: $0.0, messagesTotal: $0.1, bytesTotal: $0.1 * 10, lastPayload: "v") })
        let node = TestSnapshots.node(before, after)
        let rows = RowBuilder.topics([node], collapsed: [])
        #expect(rows.map(\.path) == ["plant", "plant/a", "plant/a/temp", "plant/a/hum", "plant/b", "plant/b/temp", "orders"])
        #expect(rows[0].rate == 16 && rows[0].messages == 16)
        #expect(rows[2].preview == "v" && rows[0].preview == nil)
        let collapsed = RowBuilder.topics([node], collapsed: ["plant/a"])
        #expect(!collapsed.contains { $0.path == "plant/a/temp" })
        #expect(collapsed.first { $0.path == "plant/a" }?.expanded == false)
    }

    @Test func endpoints() throws {
        #expect(try SnapshotEndpoint(parsing: "http://127.0.0.1:18883").port == 18883)
        #expect(try SnapshotEndpoint(parsing: "10.0.0.2:9000/metrics").host == "10.0.0.2")
        #expect(try SnapshotEndpoint(parsing: ":18883").host == "127.0.0.1")
        #expect(throws: EndpointError.self) { try SnapshotEndpoint(parsing: "http://nowhere") }
    }
}
