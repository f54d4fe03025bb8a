import WharfCore
import WharfMQTT

/// Which persistent sessions' queues this node routes to, and through which
/// filters: the subscriptions of every record in `wharf_sessions`, as the
/// changes to make in the broker's tree. Every node holds every session's
/// routes (a message is appended to a session's queue where it is
/// published), so a session's subscriptions reach the whole cluster in the
/// time its record takes to. A value type: `ClusterNode` applies the
/// changes it returns, in order, under one lock.
///
/// Records arrive from two places: the sessions watch (every node's
/// writes, in order) and this node's own writes as they are acknowledged,
/// so that a SUBACK here is followed by routes here. The revision keeps the
/// later of the two.
struct InboxRouteTable {
    enum Change {
        case add(RemoteInbox, SubscribePacket.Subscription, identifier: UInt32)
        case remove(RemoteInbox, filter: String)
    }

    struct Entry {
        let inbox: RemoteInbox
        var revision: UInt64
        var subscriptions: [String: SessionRecord.Subscription]
    }

    private(set) var entries: [String: Entry] = [:]

    /// The record under `key` at `revision` (nil: deleted): the tree
    /// changes that make the routes match it. Nothing for a revision older
    /// than the one applied.
    mutating func apply(key: String, record: SessionRecord?, revision: UInt64) -> [Change] {
        let current = entries[key]
        if let current, current.revision >= revision { return [] }
        guard let record else {
            entries[key] = nil
            guard let current else { return [] }
            return current.subscriptions.keys.sorted().map { .remove(current.inbox, filter: $0) }
        }
        let inbox = current?.inbox ?? RemoteInbox(clientId: record.clientId)
        inbox.isOnline = record.ownership.connected
        var wanted: [String: SessionRecord.Subscription] = [:]
        // Shared subscriptions are consumer groups, served by the node that
        // has the member; options no client could have asked for are skipped.
        for subscription in record.subscriptions where subscription.packet != nil && !subscription.filter.hasPrefix("$share/") {
            wanted[subscription.filter] = subscription
        }
        var changes: [Change] = []
        for (filter, _) in current?.subscriptions ?? [:] where wanted[filter] == nil {
            changes.append(.remove(inbox, filter: filter))
        }
        for (filter, subscription) in wanted.sorted(by: { $0.key < $1.key }) where current?.subscriptions[filter] != subscription {
            changes.append(.add(inbox, subscription.packet!, identifier: subscription.identifier))
        }
        entries[key] = Entry(inbox: inbox, revision: revision, subscriptions: wanted)
        return changes
    }

    var routeCount: Int { entries.values.reduce(0) { $0 + $1.subscriptions.count } }
}
