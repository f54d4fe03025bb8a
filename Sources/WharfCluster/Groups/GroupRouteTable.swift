import WharfCore

/// Which consumer groups have members, and who holds them: live nodes with
/// members (this one included) and persistent sessions whose record
/// subscribes to the group. A group is routed to (one `RemoteGroup` in the
/// broker's tree, so a publish appends one copy to its queue) while it has
/// any holder. Sessions count so that a group whose members are all being
/// taken over, or are offline sessions of a node that died, keeps its
/// messages: the record keeps the subscription while no node has the
/// member. Keyed by the group's text, `$share/<group>/<filter>`, as the
/// route index and the records hold it.
struct GroupRouteTable {
    enum Change {
        case add(RemoteGroup)
        case remove(RemoteGroup)
    }

    enum Holder: Hashable {
        /// A live node with members of the group.
        case node(String)
        /// A persistent session (by client id) whose record subscribes to it.
        case session(String)
    }

    private struct Entry {
        let group: RemoteGroup
        var holders: Set<Holder>
    }

    private var entries: [String: Entry] = [:]

    /// `holder` holds the group `share` now (`present`) or no more; the
    /// change to make in the tree, if any.
    mutating func set(_ share: String, holder: Holder, present: Bool) -> Change? {
        if present {
            if entries[share] != nil {
                entries[share]!.holders.insert(holder)
                return nil
            }
            guard case .success(let shared)? = SharedSubscription.parse(share) else { return nil }
            let group = RemoteGroup(
                name: shared.group, filter: shared.filter, address: GroupQueue.subject(name: shared.group, filter: shared.filter))
            entries[share] = Entry(group: group, holders: [holder])
            return .add(group)
        }
        guard var entry = entries[share], entry.holders.remove(holder) != nil else { return nil }
        if entry.holders.isEmpty {
            entries[share] = nil
            return .remove(entry.group)
        }
        entries[share] = entry
        return nil
    }

    /// The live nodes with members of `share`, sorted.
    func nodes(of share: String) -> [String] {
        (entries[share]?.holders ?? []).compactMap { holder in
            if case .node(let name) = holder { return name }
            return nil
        }.sorted()
    }

    var count: Int { entries.count }
}
