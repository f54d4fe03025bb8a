import WharfMetrics

/// What a frame is drawn from: the nodes' data, the operator's choices,
/// the thresholds, and the wall-clock time (for "connected since").
public struct FrameContext: Sendable {
    public var nodes: [NodeHistory]
    public var view: ViewState
    public var thresholds: Thresholds
    public var nowSeconds: Double

    public init(nodes: [NodeHistory], view: ViewState, thresholds: Thresholds, nowSeconds: Double) {
        self.nodes = nodes
        self.view = view
        self.thresholds = thresholds
        self.nowSeconds = nowSeconds
    }

    public var multiNode: Bool { nodes.count > 1 }

    /// Whether any node runs with a durable store (its header gets a storage line).
    public var hasStorage: Bool { nodes.contains { $0.latest?.storage != nil } }

    /// Whether any node runs in cluster mode (the Nodes screen gets the cluster's rows).
    public var hasCluster: Bool { nodes.contains { $0.latest?.cluster != nil } }

    /// Why the first broker that is not answering is not, with its label:
    /// the footer shows it.
    public var problem: String? {
        for node in nodes {
            if case .disconnected(let reason) = node.status { return "\(node.label): \(reason)" }
        }
        return nil
    }

    /// Rows pass the filter when their name contains it, ignoring case.
    public func matches(_ name: String) -> Bool {
        view.filter.isEmpty || name.localizedLowercase.contains(view.filter.localizedLowercase)
    }
}

/// Shared cell text for optional figures: unknown shows as "-".
func optional(_ value: Double?, _ format: (Double) -> String) -> String {
    value.map(format) ?? "-"
}

func compare(_ a: Double?, _ b: Double?) -> Bool {
    (a ?? -1) < (b ?? -1)
}
