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
///
/// It also keeps which consumer-group entries records hold past PUBREC
/// (`SessionRecord.Released.groupSequence`): a node pulling such an entry
/// again lets it go (`GroupPuller`).
struct InboxRouteTable {
    enum Change {
        case add(RemoteInbox, SubscribePacket.Subscription, identifier: UInt32)
        case remove(RemoteInbox, filter: String)
        /// The session holds the consumer group `share` (its record
        /// subscribes to it) now, or no more (`GroupRouteTable`).
        case group(share: String, clientId: String, present: Bool)
    }

    struct Entry {
        let inbox: RemoteInbox
        var revision: UInt64
        var subscriptions: [String: SessionRecord.Subscription]
        /// Its shared subscriptions' texts: consumer groups, served from
        /// their own queues by the nodes with members, not from this one.
        var groups: Set<String>
        /// Its group deliveries past PUBREC: their places in `WHARF_G`.
        var releasedGroupEntries: [UInt64] = []
    }

    private(set) var entries: [String: Entry] = [:]
    /// Every record's group deliveries past PUBREC, by place in `WHARF_G`
    /// (counted: two records never should, but one leaving must not hide
    /// the other).
    private var releasedGroupEntries: [UInt64: Int] = [:]

    /// Whether a record holds the group entry at `sequence` past PUBREC.
    func holdsReleasedGroupEntry(_ sequence: UInt64) -> Bool { releasedGroupEntries[sequence] != nil }

    private mutating func changeReleasedGroupEntries(from old: [UInt64], to new: [UInt64]) {
        guard old != new else { return }
        for sequence in old {
            let left = (releasedGroupEntries[sequence] ?? 1) - 1
            releasedGroupEntries[sequence] = left > 0 ? left : nil
        }
        for sequence in new { releasedGroupEntries[sequence, default: 0] += 1 }
    }

    /// The record under `key` at `revision` (nil: deleted): the tree
    /// changes that make the routes match it. Nothing for a revision older
    /// than the one applied.
    mutating func apply(key: String, record: SessionRecord?, revision: UInt64) -> [Change] {
        let current = entries[key]
        if let current, current.revision >= revision { return [] }
        guard let record else {
            entries[key] = nil
            guard let current else { return [] }
            changeReleasedGroupEntries(from: current.releasedGroupEntries, to: [])
            return current.subscriptions.keys.sorted().map { .remove(current.inbox, filter: $0) }
                + current.groups.sorted().map { .group(share: $0, clientId: current.inbox.clientId, present: false) }
        }
        let inbox = current?.inbox ?? RemoteInbox(clientId: record.clientId)
        inbox.isOnline = record.ownership.connected
        var wanted: [String: SessionRecord.Subscription] = [:]
        var groups: Set<String> = []
        // Options no client could have asked for are skipped.
        for subscription in record.subscriptions where subscription.packet != nil {
            if subscription.filter.hasPrefix("$share/") {
                groups.insert(subscription.filter)
            } else {
                wanted[subscription.filter] = subscription
            }
        }
        var changes: [Change] = []
        let held = current?.groups ?? []
        for share in held.subtracting(groups).sorted() {
            changes.append(.group(share: share, clientId: record.clientId, present: false))
        }
        for share in groups.subtracting(held).sorted() {
            changes.append(.group(share: share, clientId: record.clientId, present: true))
        }
        for (filter, _) in current?.subscriptions ?? [:] where wanted[filter] == nil {
            changes.append(.remove(inbox, filter: filter))
        }
        for (filter, subscription) in wanted.sorted(by: { $0.key < $1.key }) where current?.subscriptions[filter] != subscription {
            changes.append(.add(inbox, subscription.packet!, identifier: subscription.identifier))
        }
        let released = (record.released ?? []).compactMap(\.groupSequence)
        changeReleasedGroupEntries(from: current?.releasedGroupEntries ?? [], to: released)
        entries[key] = Entry(
            inbox: inbox, revision: revision, subscriptions: wanted, groups: groups, releasedGroupEntries: released)
        return changes
    }

    var routeCount: Int { entries.values.reduce(0) { $0 + $1.subscriptions.count } }
}
