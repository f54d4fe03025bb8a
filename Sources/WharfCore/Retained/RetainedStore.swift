import WharfMQTT

/// The last retained message per topic (3.1.1 section 3.3.1.3): a hash map
/// by the topic's exact bytes for exact lookups, and a trie of topic levels
/// so that a wildcard filter walks only the branches it can match.
///
/// A SUBSCRIBE used to scan every retained message once per wildcard filter
/// (filters x retained topic comparisons, on the event loop). The trie makes
/// one filter cost the nodes along its matching paths: a literal level is one
/// hash lookup, `+` visits a node's children, `#` the subtree below it. The
/// `$` rule and `#` matching its parent level are applied exactly as live
/// routing applies them (see `SubscriptionTree.collect`).
public struct RetainedStore: Sendable {
    /// One topic level. Only reachable through one store's `root` (copied
    /// before any mutation when the store value is shared, see `unshare`),
    /// and the broker touches its store only under the retained lock. The
    /// one change made through a non-mutating path, `grandchildren` filled in
    /// by `matching`, relies on that lock too.
    final class Node: @unchecked Sendable {
        /// Keyed by byte slices of the topic that created each child.
        var children: [TopicLevel: Node] = [:]
        /// The retained message whose topic ends at this level.
        var message: Message?
        /// For a node with many children, built the first time a filter
        /// asks for `+/literal` below it: the grandchildren by their level,
        /// so that such a filter visits the grandchildren named `literal`
        /// instead of every child (10,000 children cost every one of a
        /// thousand `t/+/x` filters 10,000 steps). Kept current by `update`
        /// and `prune` once it exists; a copy of the trie starts without it.
        var grandchildren: [TopicLevel: [ObjectIdentifier: Grandchild]]?

        init() {}

        /// An independent copy of this subtree (iterative: no recursion
        /// however deep a topic goes).
        func deepCopy() -> Node {
            let copy = Node()
            var work: [(source: Node, target: Node)] = [(self, copy)]
            while let pair = work.popLast() {
                pair.target.message = pair.source.message
                pair.target.children.reserveCapacity(pair.source.children.count)
                for (level, child) in pair.source.children {
                    let childCopy = Node()
                    pair.target.children[level] = childCopy
                    work.append((child, childCopy))
                }
            }
            return copy
        }
    }

    /// An entry of `Node.grandchildren`: the node two levels down, and
    /// whether the level between starts with `$` (the `$` rule for a `+`
    /// at the first level).
    struct Grandchild {
        let node: Node
        let dollarParent: Bool
    }

    /// Children from which a `+` followed by a literal level uses the
    /// grandchild index rather than visiting each child.
    let wideNode: Int

    /// Topic (exact bytes) to the node that holds its message.
    private var byTopic: [ExactString: Node] = [:]
    /// The trie; it never holds a message itself (a topic has at least one level).
    private var root = Node()

    public init() { wideNode = 32 }

    /// `wideNode` 0 makes every `+/literal` go through the index (tests).
    init(wideNode: Int) { self.wideNode = wideNode }

    public var count: Int { byTopic.count }

    /// Stores `message` for its topic; an empty payload clears the topic.
    public mutating func update(with message: Message) {
        unshare()
        let key = ExactString(message.topic)
        if message.payload.readableBytes == 0 {
            guard let node = byTopic.removeValue(forKey: key) else { return }
            node.message = nil
            prune(message.topic)
            return
        }
        if let node = byTopic[key] {
            node.message = message
            return
        }
        var node = root
        var grandparent: Node?
        var parentLevel: TopicLevel?
        forEachLevel(of: message.topic) { level in
            if let child = node.children[level] {
                grandparent = node
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                if let grandparent, grandparent.grandchildren != nil {
                    let entry = Grandchild(node: child, dollarParent: parentLevel?.bytes.first == UInt8(ascii: "$"))
                    grandparent.grandchildren![level, default: [:]][ObjectIdentifier(child)] = entry
                }
                grandparent = node
                node = child
            }
            parentLevel = level
        }
        node.message = message
        byTopic[key] = node
    }

    public func message(for topic: String) -> Message? {
        byTopic[ExactString(topic)]?.message
    }

    /// Retained messages whose topics match `filter`, in no particular order.
    public func matching(filter: String) -> [Message] {
        var found: [Message] = []
        matching(filter: filter, into: &found)
        return found
    }

    /// Appends the retained messages whose topics match `filter` to `found`,
    /// in no particular order. The work is the trie nodes on paths the filter
    /// can match (for `#`, the subtree it covers), not the store's size.
    /// As `TopicMatcher`, a `#` ends the filter whatever follows it (a valid
    /// filter has nothing after it).
    public func matching(filter: String, into found: inout [Message]) {
        let bytes = filter.utf8
        if !bytes.contains(UInt8(ascii: "+")) && !bytes.contains(UInt8(ascii: "#")) {
            if let message = byTopic[ExactString(filter)]?.message { found.append(message) }
            return
        }
        var levels: [TopicLevel] = []
        forEachLevel(of: filter) { levels.append($0) }
        var current: [Node] = [root]
        var next: [Node] = []
        var position = 0
        while position < levels.count {
            let level = levels[position]
            // The `$` rule: a filter whose first level is a wildcard does not
            // match topics starting with `$` (3.1.1 section 4.7.2); only the
            // root's children are topics' first levels.
            let skipDollar = position == 0
            if level == .multiLevelWildcard {
                // `#` covers zero or more remaining levels: the parent too.
                for node in current { Self.collectSubtree(node, skipDollar: skipDollar, into: &found) }
                return
            }
            next.removeAll(keepingCapacity: true)
            if level == .singleLevelWildcard, position + 1 < levels.count, !levels[position + 1].isWildcard {
                // `+/literal`: two levels at once. Below a wide node, through
                // its grandchild index: the work is the grandchildren named
                // `literal`, not every child.
                let literal = levels[position + 1]
                for node in current {
                    if node.children.count >= wideNode {
                        guard let entries = Self.grandchildIndex(of: node)[literal] else { continue }
                        for entry in entries.values where !(skipDollar && entry.dollarParent) { next.append(entry.node) }
                    } else {
                        for (key, child) in node.children where !(skipDollar && key.bytes.first == UInt8(ascii: "$")) {
                            if let grandchild = child.children[literal] { next.append(grandchild) }
                        }
                    }
                }
                position += 2
            } else if level == .singleLevelWildcard {
                for node in current {
                    for (key, child) in node.children where !(skipDollar && key.bytes.first == UInt8(ascii: "$")) {
                        next.append(child)
                    }
                }
                position += 1
            } else {
                for node in current {
                    if let child = node.children[level] { next.append(child) }
                }
                position += 1
            }
            swap(&current, &next)
            guard !current.isEmpty else { return }
        }
        for node in current {
            if let message = node.message { found.append(message) }
        }
    }

    /// Every message at `node` and below it (an explicit stack, no recursion).
    private static func collectSubtree(_ node: Node, skipDollar: Bool, into found: inout [Message]) {
        if let message = node.message { found.append(message) }
        var stack: [Node] = []
        for (key, child) in node.children where !(skipDollar && key.bytes.first == UInt8(ascii: "$")) {
            stack.append(child)
        }
        while let node = stack.popLast() {
            if let message = node.message { found.append(message) }
            stack.append(contentsOf: node.children.values)
        }
    }

    /// Takes the nodes left empty by clearing `topic` out of the trie: the
    /// chain below the deepest ancestor that keeps a message, another child,
    /// or is the root. One walk down, no path array.
    private mutating func prune(_ topic: String) {
        var node = root
        var parent: Node?
        var cut: (grandparent: Node?, parent: Node, level: TopicLevel)?
        var missing = false
        forEachLevel(of: topic) { level in
            guard !missing, let child = node.children[level] else {
                missing = true
                return
            }
            if cut == nil || node.message != nil || node.children.count > 1 { cut = (parent, node, level) }
            parent = node
            node = child
        }
        guard !missing, node.message == nil, node.children.isEmpty, let cut, let removed = cut.parent.children[cut.level] else { return }
        // The grandchild indexes that list a removed node: the cut node's
        // grandparent's (for the cut node) and its parent's (for the one
        // below it, the chain's only). Deeper ones go with the chain.
        if let grandparent = cut.grandparent, grandparent.grandchildren != nil {
            Self.unindex(removed, level: cut.level, in: grandparent)
        }
        if cut.parent.grandchildren != nil, let (level, below) = removed.children.first {
            Self.unindex(below, level: level, in: cut.parent)
        }
        cut.parent.children[cut.level] = nil
    }

    private static func unindex(_ node: Node, level: TopicLevel, in grandparent: Node) {
        grandparent.grandchildren![level]?.removeValue(forKey: ObjectIdentifier(node))
        if grandparent.grandchildren![level]?.isEmpty == true { grandparent.grandchildren![level] = nil }
    }

    /// `node`'s grandchild index, built on first use.
    private static func grandchildIndex(of node: Node) -> [TopicLevel: [ObjectIdentifier: Grandchild]] {
        if let index = node.grandchildren { return index }
        var index: [TopicLevel: [ObjectIdentifier: Grandchild]] = [:]
        for (key, child) in node.children {
            let dollar = key.bytes.first == UInt8(ascii: "$")
            for (level, grandchild) in child.children {
                index[level, default: [:]][ObjectIdentifier(grandchild)] = Grandchild(node: grandchild, dollarParent: dollar)
            }
        }
        node.grandchildren = index
        return index
    }

    /// Nodes are shared by copies of the store value: the first mutation
    /// after a copy takes its own trie (and map, whose values are nodes).
    private mutating func unshare() {
        guard !isKnownUniquelyReferenced(&root) else { return }
        root = root.deepCopy()
        var rebuilt: [ExactString: Node] = [:]
        rebuilt.reserveCapacity(byTopic.count)
        for key in byTopic.keys {
            var node = root
            forEachLevel(of: key.string) { level in node = node.children[level]! }
            rebuilt[key] = node
        }
        byTopic = rebuilt
    }

    /// Calls `body` with each level of `topic`, split on the byte '/' (empty
    /// levels kept), as slices of the topic: no allocation.
    private func forEachLevel(of topic: String, _ body: (TopicLevel) -> Void) {
        let bytes = topic.utf8
        var start = bytes.startIndex
        while true {
            let slash = bytes[start...].firstIndex(of: UInt8(ascii: "/"))
            body(TopicLevel(bytes: bytes[start..<(slash ?? bytes.endIndex)]))
            guard let slash else { return }
            start = bytes.index(after: slash)
        }
    }

    /// Entries in the grandchild indexes reachable from the root, for tests:
    /// clearing topics must take them out too.
    var indexEntryCount: Int {
        var count = 0
        var stack = [root]
        while let node = stack.popLast() {
            count += node.grandchildren?.values.reduce(0) { $0 + $1.count } ?? 0
            stack.append(contentsOf: node.children.values)
        }
        return count
    }

    /// Trie nodes below the root, for tests: clearing topics must not leave
    /// empty nodes behind (memory would grow with churn).
    var nodeCount: Int {
        var count = 0
        var stack = Array(root.children.values)
        while let node = stack.popLast() {
            count += 1
            stack.append(contentsOf: node.children.values)
        }
        return count
    }
}
