import WharfMetrics

/// One line of the Queues screen: a snapshot's figures plus the rates
/// `top` derives from two snapshots (nothing the broker already computed
/// is computed again).
public struct QueueRow: Sendable, Equatable {
    public var node: String
    public var name: String
    public var depth: Int
    public var inflight: Int
    public var consumers: Int
    public var inRate: Double?
    public var outRate: Double?
    public var lagMessages: Int
    public var lagSeconds: Double
    public var p99: Double?
    public var depthHistory: [Double]
}

public struct ClientRow: Sendable, Equatable {
    public var node: String
    public var clientId: String
    public var address: String
    public var protocolVersion: String
    public var persistent: Bool
    public var inflight: Int
    public var queued: Int
    public var inRate: Double?
    public var outRate: Double?
    public var bytesIn: Int
    public var bytesOut: Int
    public var connectedAt: Double
    /// The listener it came in on (`mqtts:8883`); "" when the broker did not say.
    public var listener: String = ""
    public var tls: Bool = false
}

/// A line of the Groups screen: a group, or one of its members under it.
public struct GroupRow: Sendable, Equatable {
    /// The node's label, or "N nodes" for a cluster's group seen on several.
    public var node: String
    public var group: String
    public var filter: String
    /// Nil on the group's own line.
    public var member: String?
    public var online: Bool
    public var depth: Int?
    public var inflight: Int
    public var consumers: Int?
    public var deliveryRate: Double?
    public var lagMessages: Int?
    public var lagSeconds: Double?
}

/// A node of the topic tree: a level, its subtree's totals and rates, and
/// the sampled last payload of the topic ending here (if tracked).
public struct TopicRow: Sendable, Equatable {
    public var path: String
    public var name: String
    public var depth: Int
    public var hasChildren: Bool
    public var expanded: Bool
    public var messages: Int
    public var rate: Double?
    public var byteRate: Double?
    public var preview: String?
}

/// Builds rows from every node's history.
public enum RowBuilder {
    public static func queues(_ nodes: [NodeHistory]) -> [QueueRow] {
        var rows: [QueueRow] = []
        for node in nodes {
            guard let snapshot = node.latest else { continue }
            let interval = node.interval
            rows.reserveCapacity(rows.count + snapshot.queues.count)
            for queue in snapshot.queues {
                let before = node.previousQueues[queue.name]
                rows.append(
                    QueueRow(
                        node: node.label, name: queue.name, depth: queue.depth, inflight: queue.inflight,
                        consumers: queue.consumers,
                        inRate: perSecond(queue.enqueuedTotal, before?.enqueuedTotal, interval),
                        outRate: perSecond(queue.deliveredTotal, before?.deliveredTotal, interval),
                        lagMessages: queue.lagMessages, lagSeconds: queue.lagSeconds, p99: queue.deliverLatency.p99,
                        depthHistory: node.queueDepths[queue.name] ?? []
                    ))
            }
        }
        return rows
    }

    public static func clients(_ nodes: [NodeHistory]) -> [ClientRow] {
        var rows: [ClientRow] = []
        for node in nodes {
            guard let snapshot = node.latest else { continue }
            let interval = node.interval
            for client in snapshot.clients {
                let before = node.previousClients[client.clientId]
                rows.append(
                    ClientRow(
                        node: node.label, clientId: client.clientId, address: client.address,
                        protocolVersion: client.protocolVersion, persistent: client.persistent,
                        inflight: client.inflight, queued: client.queued,
                        inRate: perSecond(client.messagesReceivedTotal, before?.messagesReceivedTotal, interval),
                        outRate: perSecond(client.messagesSentTotal, before?.messagesSentTotal, interval),
                        bytesIn: client.bytesReceivedTotal, bytesOut: client.bytesSentTotal,
                        connectedAt: client.connectedAtSeconds, listener: client.listener ?? "", tls: client.tls ?? false
                    ))
            }
        }
        return rows
    }

    /// The topic tree, flattened in display order: children under expanded
    /// parents only, siblings busiest first. `collapsed` holds the paths the
    /// operator closed; everything else is open down to `openDepth` levels.
    public static func topics(_ nodes: [NodeHistory], collapsed: Set<String>, openDepth: Int = 8) -> [TopicRow] {
        final class Tree {
            var children: [String: Tree] = [:]
            var messages = 0
            var rate: Double?
            var byteRate: Double?
            var preview: String?
            var isTopic = false
        }
        let root = Tree()
        for node in nodes {
            guard let snapshot = node.latest else { continue }
            let interval = node.interval
            for topic in snapshot.topics.topics {
                let before = node.previousTopics[topic.name]
                let rate = perSecond(topic.messagesTotal, before?.messagesTotal, interval)
                let byteRate = perSecond(topic.bytesTotal, before?.bytesTotal, interval)
                var cursor = root
                for level in topic.name.split(separator: "/", omittingEmptySubsequences: false) {
                    let next = cursor.children[String(level)] ?? Tree()
                    cursor.children[String(level)] = next
                    next.messages += topic.messagesTotal
                    if let rate { next.rate = (next.rate ?? 0) + rate }
                    if let byteRate { next.byteRate = (next.byteRate ?? 0) + byteRate }
                    cursor = next
                }
                cursor.isTopic = true
                cursor.preview = topic.lastPayload ?? cursor.preview
            }
        }
        var rows: [TopicRow] = []
        func walk(_ tree: Tree, path: String, depth: Int) {
            let ordered = tree.children.sorted {
                ($0.value.rate ?? 0, $0.value.messages, $1.key) > ($1.value.rate ?? 0, $1.value.messages, $0.key)
            }
            for (name, child) in ordered {
                let childPath = path.isEmpty ? name : path + "/" + name
                let expanded = !collapsed.contains(childPath) && depth < openDepth
                rows.append(
                    TopicRow(
                        path: childPath, name: name, depth: depth, hasChildren: !child.children.isEmpty, expanded: expanded,
                        messages: child.messages, rate: child.rate, byteRate: child.byteRate, preview: child.isTopic ? child.preview : nil
                    ))
                if expanded { walk(child, path: childPath, depth: depth + 1) }
            }
        }
        walk(root, path: "", depth: 0)
        return rows
    }

    /// Each group followed by its members, groups by lag (seconds) first.
    ///
    /// In a cluster a group is one queue served from every node with
    /// members, so nodes of one cluster (one lists the other as live) show
    /// it on one line: their depths, in-flight counts, members and rates
    /// added up (each node reports what its members hold and one node the
    /// rest of the queue, so the sums are the group's), the lag in seconds
    /// the largest. Its members follow, each with its node.
    public static func groups(_ nodes: [NodeHistory]) -> [GroupRow] {
        let clusterOf = clusters(nodes)
        var lines: [(group: GroupRow, nodes: Int, members: [GroupRow])] = []
        var merged: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            guard let snapshot = node.latest else { continue }
            for group in snapshot.groups.sorted(by: { $0.lagSeconds > $1.lagSeconds }) {
                let (row, members) = rows(group, on: node)
                if let cluster = clusterOf[index] {
                    let key = "\(cluster)\u{0}\(group.name)\u{0}\(group.filter)"
                    if let at = merged[key] {
                        lines[at].group.add(row)
                        lines[at].nodes += 1
                        lines[at].group.node = "\(lines[at].nodes) nodes"
                        lines[at].members += members
                        continue
                    }
                    merged[key] = lines.count
                }
                lines.append((row, 1, members))
            }
        }
        return lines.flatMap { [$0.group] + $0.members }
    }

    /// One node's line for `group` and its members' lines.
    private static func rows(_ group: GroupSnapshot, on node: NodeHistory) -> (GroupRow, [GroupRow]) {
        let interval = node.interval
        let before = node.previousGroups[group.name + "\u{0}" + group.filter]
        let row = GroupRow(
            node: node.label, group: group.name, filter: group.filter, member: nil, online: group.consumers > 0,
            depth: group.depth, inflight: group.inflight, consumers: group.consumers,
            deliveryRate: perSecond(group.deliveredTotal, before?.deliveredTotal, interval),
            lagMessages: group.lagMessages, lagSeconds: group.lagSeconds
        )
        let previousMembers = Dictionary(
            (before?.members ?? []).map { ($0.clientId, $0.deliveredTotal) }, uniquingKeysWith: { a, _ in a })
        let members = group.members.map { member in
            GroupRow(
                node: node.label, group: group.name, filter: group.filter, member: member.clientId, online: member.online,
                depth: nil, inflight: member.inflight, consumers: nil,
                deliveryRate: perSecond(member.deliveredTotal, previousMembers[member.clientId], interval),
                // A member's lag: the group's messages it holds unacknowledged
                // (waiting ones belong to the group, not to a member).
                lagMessages: member.inflight, lagSeconds: nil
            )
        }
        return (row, members)
    }

    /// For each node, the first node of its cluster (nil: not in one, or
    /// no snapshot yet): two nodes are of one cluster when either lists the
    /// other among its live nodes.
    static func clusters(_ nodes: [NodeHistory]) -> [Int?] {
        let clusters = nodes.map { $0.latest?.cluster }
        var parent = Array(clusters.indices)
        func root(_ index: Int) -> Int {
            var index = index
            while parent[index] != index { index = parent[index] }
            return index
        }
        for i in clusters.indices {
            for j in clusters.indices where j > i {
                guard let a = clusters[i], let b = clusters[j],
                    a.liveNodes.contains(where: { $0.name == b.node }) || b.liveNodes.contains(where: { $0.name == a.node })
                else { continue }
                let (x, y) = (root(i), root(j))
                parent[max(x, y)] = min(x, y)
            }
        }
        return clusters.indices.map { clusters[$0] == nil ? nil : root($0) }
    }

    static func perSecond(_ now: Int, _ before: Int?, _ interval: Double?) -> Double? {
        guard let before, let interval, interval > 0 else { return nil }
        return max(0, Double(now - before) / interval)
    }
}

extension NodeHistory {
    /// How the node is named on screen: host:port of its URL.
    public var label: String {
        var text = Substring(url)
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        return String(text)
    }
}

extension GroupRow {
    /// Adds another node's line for the same group in one cluster.
    mutating func add(_ other: GroupRow) {
        online = online || other.online
        if let depth, let more = other.depth { self.depth = depth + more }
        inflight += other.inflight
        if let consumers, let more = other.consumers { self.consumers = consumers + more }
        if deliveryRate != nil || other.deliveryRate != nil { deliveryRate = (deliveryRate ?? 0) + (other.deliveryRate ?? 0) }
        if lagMessages != nil || other.lagMessages != nil { lagMessages = (lagMessages ?? 0) + (other.lagMessages ?? 0) }
        if let more = other.lagSeconds { lagSeconds = max(lagSeconds ?? 0, more) }
    }
}
