/// The screens, in Tab order; keys 1...6 jump to them.
public enum Screen: Int, CaseIterable, Sendable {
    case queues = 1
    case groups, clients, topics, latency, nodes

    public var title: String {
        switch self {
        case .queues: return "Queues"
        case .groups: return "Groups"
        case .clients: return "Clients"
        case .topics: return "Topics"
        case .latency: return "Latency"
        case .nodes: return "Nodes"
        }
    }
}

/// Everything the operator has chosen: which screen, how it is sorted and
/// filtered, what is selected. Pure data; `KeyHandler` changes it.
public struct ViewState: Sendable, Equatable {
    public var screen: Screen = .queues
    /// Per screen: sort column index and direction.
    public var sortColumn: [Screen: Int] = [.queues: 7, .clients: 0, .groups: -1]
    public var sortDescending: [Screen: Bool] = [.queues: true]
    /// Shows only rows whose name contains it (case-insensitive).
    public var filter = ""
    /// Typing into the filter (after `/`): keys go to the filter text.
    public var editingFilter = false
    /// `p`: keep showing the last data, stop refreshing.
    public var paused = false
    public var helpVisible = false
    /// Selected row and first visible row on the current screen.
    public var selection = 0
    public var scroll = 0
    /// Enter on a queue or client: its detail panel, by name.
    public var detail: String?
    /// Topic paths the operator collapsed.
    public var collapsedTopics: Set<String> = []
    public var quit = false

    public init() {}

    public func sortIndex(_ screen: Screen) -> Int { sortColumn[screen] ?? 0 }
    public func descending(_ screen: Screen) -> Bool { sortDescending[screen] ?? false }
}
