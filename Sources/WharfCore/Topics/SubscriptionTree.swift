import WharfMQTT

/// A subscriber and the QoS it asked for, as found by a topic match.
public struct RouteTarget: Sendable {
    /// Where a matching message goes: one session, or a consumer group that
    /// hands it to one of its members.
    public enum Destination: Sendable {
        case session(Session)
        case group(ConsumerGroup)
        /// Another node of the cluster, for its subscribers (cluster mode).
        case remote(RemoteNode)
        /// A persistent session's queue in the cluster (cluster mode).
        case inbox(RemoteInbox)
        /// A consumer group's queue in the cluster (cluster mode).
        case remoteGroup(RemoteGroup)
    }

    public let destination: Destination
    public var qos: QoS
    /// 5.0 subscription options (all off for 3.1.1 subscriptions).
    public var noLocal = false
    public var retainAsPublished = false
    public var identifiers = SubscriptionIdentifiers.none

    public init(
        session: Session, qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false, identifiers: SubscriptionIdentifiers = .none
    ) {
        self.destination = .session(session)
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.identifiers = identifiers
    }

    public init(group: ConsumerGroup, qos: QoS) {
        self.destination = .group(group)
        self.qos = qos
    }

    public init(remote node: RemoteNode, qos: QoS) {
        self.destination = .remote(node)
        self.qos = qos
    }

    public init(
        inbox: RemoteInbox, qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false, identifiers: SubscriptionIdentifiers = .none
    ) {
        self.destination = .inbox(inbox)
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.identifiers = identifiers
    }

    public init(remoteGroup group: RemoteGroup) {
        self.destination = .remoteGroup(group)
        self.qos = .exactlyOnce
    }

    /// A subscription of this node's own sessions and groups; not another
    /// node's, nor a session's or group's queue in the cluster (which every
    /// node routes to itself, so no node asks for it).
    public var isLocal: Bool {
        switch destination {
        case .remote, .inbox, .remoteGroup: return false
        case .session, .group: return true
        }
    }

    /// Identity of the destination: one entry per session or group per filter.
    var key: ObjectIdentifier {
        switch destination {
        case .session(let session): return ObjectIdentifier(session)
        case .group(let group): return ObjectIdentifier(group)
        case .remote(let node): return ObjectIdentifier(node)
        case .inbox(let inbox): return ObjectIdentifier(inbox)
        case .remoteGroup(let group): return ObjectIdentifier(group)
        }
    }

    /// The session, for a plain subscription.
    public var session: Session? {
        if case .session(let session) = destination { return session }
        return nil
    }
}

/// Topic-filter trie: one node per level, `+` and `#` as ordinary keys.
///
/// Matching walks the published topic level by level as byte slices of the
/// topic, so a lookup allocates nothing and compares bytes exactly (no
/// Unicode normalisation, 3.1.1 section 4.7.3); cost grows with the topic's
/// depth and the wildcards on its path, not with the number of subscriptions.
public struct SubscriptionTree: Sendable {
    final class Node: @unchecked Sendable {  // only touched under the broker's tree lock
        /// Literal levels. `+` and `#` have fields of their own: a match
        /// checks them at every level, and a field costs nothing to read where
        /// a dictionary lookup hashes the key (a 3-level publish did 8
        /// lookups, about a third of its instructions, before they moved out).
        var children: [TopicLevel: Node] = [:]
        var singleLevelWildcard: Node?
        var multiLevelWildcard: Node?
        var subscribers: [ObjectIdentifier: RouteTarget] = [:]
        /// This node's own subscriptions (not other nodes') to the filter,
        /// by granted QoS: what the cluster is told it wants.
        var localByQoS: (Int, Int, Int) = (0, 0, 0)

        var localMaxQoS: QoS? {
            if localByQoS.2 > 0 { return .exactlyOnce }
            if localByQoS.1 > 0 { return .atLeastOnce }
            if localByQoS.0 > 0 { return .atMostOnce }
            return nil
        }

        func countLocal(_ target: RouteTarget, _ delta: Int) {
            guard target.isLocal else { return }
            switch target.qos {
            case .atMostOnce: localByQoS.0 += delta
            case .atLeastOnce: localByQoS.1 += delta
            case .exactlyOnce: localByQoS.2 += delta
            }
        }

        var isEmpty: Bool {
            children.isEmpty && subscribers.isEmpty && singleLevelWildcard == nil && multiLevelWildcard == nil
        }

        func child(_ level: TopicLevel) -> Node? {
            if level == .singleLevelWildcard { return singleLevelWildcard }
            if level == .multiLevelWildcard { return multiLevelWildcard }
            return children[level]
        }

        func setChild(_ level: TopicLevel, _ node: Node?) {
            if level == .singleLevelWildcard {
                singleLevelWildcard = node
            } else if level == .multiLevelWildcard {
                multiLevelWildcard = node
            } else {
                children[level] = node
            }
        }
    }

    private let root = Node()
    public private(set) var count = 0
    /// Subscriptions of other nodes (cluster mode), included in `count`.
    public private(set) var remoteCount = 0
    /// Subscriptions of persistent sessions' and consumer groups' queues in
    /// the cluster (cluster mode), included in `count`.
    public private(set) var inboxCount = 0
    /// Cluster mode: filters whose local interest (the highest QoS this
    /// node's subscriptions to them grant, nil for none) changed, for the
    /// broker to drain and tell the cluster. Off on a single node.
    public var tracksLocalInterest = false
    public private(set) var interestChanges: [(filter: String, maxQoS: QoS?)] = []
    /// Bumped by every change, so a `RouteCache` knows when its route is stale.
    public private(set) var generation: UInt64 = 0

    public init() {}

    /// Adds or replaces `session`'s subscription to `filter`. Returns true if it is new.
    @discardableResult
    public mutating func subscribe(_ session: Session, filter: String, qos: QoS) -> Bool {
        subscribe(RouteTarget(session: session, qos: qos), filter: filter)
    }

    /// Adds or replaces a destination's subscription to `filter`.
    @discardableResult
    public mutating func subscribe(_ target: RouteTarget, filter: String) -> Bool {
        var node = root
        for level in filter.topicLevels {
            if let child = node.child(level) {
                node = child
            } else {
                let child = Node()
                node.setChild(level, child)
                node = child
            }
        }
        let before = node.localMaxQoS
        let replaced = node.subscribers.updateValue(target, forKey: target.key)
        if let replaced { node.countLocal(replaced, -1) }
        node.countLocal(target, 1)
        let isNew = replaced == nil
        if isNew {
            count += 1
            if case .remote = target.destination { remoteCount += 1 } else if !target.isLocal { inboxCount += 1 }
        }
        generation &+= 1
        if tracksLocalInterest, target.isLocal, node.localMaxQoS != before { interestChanges.append((filter, node.localMaxQoS)) }
        return isNew
    }

    /// Removes another node's subscription to `filter` (cluster mode).
    @discardableResult
    public mutating func unsubscribe(_ node: RemoteNode, filter: String) -> Bool {
        unsubscribe(key: ObjectIdentifier(node), filter: filter)
    }

    /// Removes a group queue's subscription (cluster mode).
    @discardableResult
    public mutating func unsubscribe(_ group: RemoteGroup) -> Bool {
        unsubscribe(key: ObjectIdentifier(group), filter: group.filter)
    }

    /// Removes a session queue's subscription to `filter` (cluster mode).
    @discardableResult
    public mutating func unsubscribe(_ inbox: RemoteInbox, filter: String) -> Bool {
        unsubscribe(key: ObjectIdentifier(inbox), filter: filter)
    }

    /// Hands over the interest changes recorded since the last call.
    public mutating func takeInterestChanges() -> [(filter: String, maxQoS: QoS?)] {
        defer { interestChanges.removeAll() }
        return interestChanges
    }

    /// Every filter this node's own subscriptions use, with the highest QoS
    /// they grant: what the cluster is told when a node joins it.
    public func localInterests() -> [(filter: String, maxQoS: QoS)] {
        var found: [(String, QoS)] = []
        func walk(_ node: Node, _ path: [String]) {
            if let qos = node.localMaxQoS { found.append((path.joined(separator: "/"), qos)) }
            for (level, child) in node.children { walk(child, path + [String(Substring(level.bytes))]) }
            if let plus = node.singleLevelWildcard { walk(plus, path + ["+"]) }
            if let hash = node.multiLevelWildcard { walk(hash, path + ["#"]) }
        }
        walk(root, [])
        return found
    }

    /// Removes `session`'s subscription to `filter`; prunes empty nodes.
    @discardableResult
    public mutating func unsubscribe(_ session: Session, filter: String) -> Bool {
        unsubscribe(key: ObjectIdentifier(session), filter: filter)
    }

    @discardableResult
    public mutating func unsubscribe(_ group: ConsumerGroup) -> Bool {
        unsubscribe(key: ObjectIdentifier(group), filter: group.filter)
    }

    private mutating func unsubscribe(key: ObjectIdentifier, filter: String) -> Bool {
        let levels = filter.topicLevels
        var path: [(Node, TopicLevel)] = []
        var node = root
        for level in levels {
            guard let child = node.child(level) else { return false }
            path.append((node, level))
            node = child
        }
        let before = node.localMaxQoS
        guard let removed = node.subscribers.removeValue(forKey: key) else { return false }
        node.countLocal(removed, -1)
        count -= 1
        if case .remote = removed.destination { remoteCount -= 1 } else if !removed.isLocal { inboxCount -= 1 }
        generation &+= 1
        if tracksLocalInterest, removed.isLocal, node.localMaxQoS != before { interestChanges.append((filter, node.localMaxQoS)) }
        var current = node
        while current.isEmpty, let (parent, level) = path.popLast() {
            parent.setChild(level, nil)
            current = parent
        }
        return true
    }

    /// Appends every subscription matching `topic` to `targets`, one entry per
    /// session with the highest QoS among its matching filters (3.1.1 section 3.3.5).
    /// `topic`'s targets into `cache.targets`, from the cache when it holds
    /// this topic's route at the current generation. `repeatedTopic`:
    /// `cache.isLast(topic)`, which the caller already knows.
    func match(topic: String, repeatedTopic: Bool, cache: inout RouteCache) {
        if cache.hits(repeatedTopic: repeatedTopic, generation: generation) { return }
        cache.targets.removeAll(keepingCapacity: true)
        match(topic: topic, into: &cache.targets)
        cache.topic = topic
        cache.generation = generation
        cache.valid = true
    }

    public func match(topic: String, into targets: inout [RouteTarget]) {
        let start = targets.count
        let dollar = topic.utf8.first == UInt8(ascii: "$")
        collect(root, topic: topic, levelStart: topic.startIndex, firstLevel: true, dollar: dollar, into: &targets)
        if targets.count - start > 1 { Self.mergeDuplicates(&targets, from: start) }
    }

    private func collect(
        _ node: Node, topic: String, levelStart: String.Index?, firstLevel: Bool, dollar: Bool,
        into targets: inout [RouteTarget]
    ) {
        let wildcardsAllowed = !(firstLevel && dollar)
        // `a/#` also matches `a` itself: '#' covers zero or more remaining levels.
        if wildcardsAllowed, let hash = node.multiLevelWildcard {
            targets.append(contentsOf: hash.subscribers.values)
        }
        guard let start = levelStart else {
            targets.append(contentsOf: node.subscribers.values)
            return
        }
        let bytes = topic.utf8
        let slash = bytes[start...].firstIndex(of: UInt8(ascii: "/"))
        let level = TopicLevel(bytes: bytes[start..<(slash ?? bytes.endIndex)])
        let next = slash.map { bytes.index(after: $0) }
        if let child = node.children[level] {
            collect(child, topic: topic, levelStart: next, firstLevel: false, dollar: dollar, into: &targets)
        }
        if wildcardsAllowed, let plus = node.singleLevelWildcard {
            collect(plus, topic: topic, levelStart: next, firstLevel: false, dollar: dollar, into: &targets)
        }
    }

    /// Overlapping filters of one session yield one delivery at the maximum
    /// QoS, carrying every matching subscription's identifier (5.0 section
    /// 3.3.4); it is "no local" only if every matching filter is.
    private static func mergeDuplicates(_ targets: inout [RouteTarget], from start: Int) {
        targets[start...].sort { $0.key < $1.key }
        var write = start
        for read in (start + 1)..<targets.count {
            if targets[read].key == targets[write].key {
                targets[write].qos = max(targets[write].qos, targets[read].qos)
                targets[write].noLocal = targets[write].noLocal && targets[read].noLocal
                targets[write].retainAsPublished = targets[write].retainAsPublished || targets[read].retainAsPublished
                targets[write].identifiers = targets[write].identifiers.merged(with: targets[read].identifiers)
            } else {
                write += 1
                targets[write] = targets[read]
            }
        }
        targets.removeSubrange((write + 1)...)
    }
}
