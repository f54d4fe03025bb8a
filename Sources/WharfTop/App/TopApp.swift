import Foundation
import NIOCore

/// `wharf top`'s main loop: poll the brokers, build a frame when something
/// changed, draw only the cells that differ, and handle keys. Runs on the
/// calling thread until `q`, Ctrl-C, or `shouldStop()` (SIGTERM).
public struct TopApp {
    public var endpoints: [SnapshotEndpoint]
    public var interval: Double
    public var theme: Theme
    public var thresholds: Thresholds
    /// Trust roots and token for protected metrics listeners.
    public var access: SnapshotAccess

    public init(
        endpoints: [SnapshotEndpoint], interval: Double, theme: Theme, thresholds: Thresholds, access: SnapshotAccess = SnapshotAccess()
    ) {
        self.endpoints = endpoints
        self.access = access
        self.interval = interval
        self.theme = theme
        self.thresholds = thresholds
    }

    public func run(shouldStop: () -> Bool) {
        let poller = SnapshotPoller(endpoints: endpoints, interval: .milliseconds(Int64(interval * 1000)), access: access)
        poller.start()
        defer { poller.stop() }
        let terminal = NcursesTerminal(theme: theme)
        // Restores the terminal on every way out of this function, thrown or not.
        defer { terminal.restore() }

        var nodes = endpoints.map { NodeHistory(url: $0.url) }
        var view = ViewState()
        var shown: CellGrid?
        var frame: Frame?
        var dirty = true
        while !view.quit && !shouldStop() {
            for (index, update) in poller.take() {
                switch update {
                case .snapshot(let snapshot):
                    if !view.paused { nodes[index].record(snapshot) }
                case .failed(let reason):
                    nodes[index].failed(reason)
                }
                dirty = true
            }
            if dirty {
                let size = terminal.size
                let context = FrameContext(nodes: nodes, view: view, thresholds: thresholds, nowSeconds: Date().timeIntervalSince1970)
                let built = FrameBuilder.build(context, width: size.width, height: size.height)
                terminal.draw(built.grid.changes(since: shown))
                shown = built.grid
                view.scroll = built.scroll
                view.selection = min(view.selection, max(0, built.rowCount - 1))
                frame = built
                dirty = false
            }
            // Short waits keep keys snappy; an idle loop costs a wake-up per 100 ms.
            guard let key = terminal.readKey(timeoutMilliseconds: 100) else { continue }
            if key == .resize {
                terminal.clear()
                shown = nil
            }
            if let frame {
                let context = FrameContext(nodes: nodes, view: view, thresholds: thresholds, nowSeconds: Date().timeIntervalSince1970)
                KeyHandler.apply(key, to: &view, frame: frame, sortColumns: FrameBuilder.sortColumnCount(context))
            }
            dirty = true
        }
    }
}

extension FrameBuilder {
    /// Columns `s` cycles through on the current screen (0: not sortable).
    public static func sortColumnCount(_ context: FrameContext) -> Int {
        switch context.view.screen {
        case .queues: return QueuesScreen.columns(context).count
        case .clients: return ClientsScreen.columns(context).count
        default: return 0
        }
    }
}
