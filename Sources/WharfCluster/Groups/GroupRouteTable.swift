import WharfCore

/// Which consumer groups have members on which live nodes (this one
/// included): a group is routed to (one `RemoteGroup` in the broker's tree,
/// so a publish appends one copy to its queue) while any of them has. Keyed
/// by the group's text, `$share/<group>/<filter>`, as the route index holds it.
struct GroupRouteTable {
    enum Change {
        case add(RemoteGroup)
        case remove(RemoteGroup)
    }

    private struct Entry {
        let group: RemoteGroup
        var nodes: Set<String>
    }

    private var entries: [String: Entry] = [:]

    /// `node` has members of the group `share` now (`present`) or no more;
    /// the change to make in the tree, if any.
    mutating func set(_ share: String, node: String, present: Bool) -> Change? {
        if present {
            if entries[share] != nil {
                entries[share]!.nodes.insert(node)
                return nil
            }
            guard case .success(let shared)? = SharedSubscription.parse(share) else { return nil }
            let group = RemoteGroup(
                name: shared.group, filter: shared.filter, address: GroupQueue.subject(name: shared.group, filter: shared.filter))
            entries[share] = Entry(group: group, nodes: [node])
            return .add(group)
        }
        guard var entry = entries[share], entry.nodes.remove(node) != nil else { return nil }
        if entry.nodes.isEmpty {
            entries[share] = nil
            return .remove(entry.group)
        }
        entries[share] = entry
        return nil
    }

    /// The nodes with members of `share`, sorted.
    func nodes(of share: String) -> [String] { entries[share]?.nodes.sorted() ?? [] }

    var count: Int { entries.count }
}
