/// An `AccessTrie` copied into memory of its own and read through raw
/// pointers: a check takes no reference count and does no bounds check, and
/// only reads. `ClientAccess` owns it and frees it.
///
/// A walk follows the literal child first and counts the `+` branches it
/// passes; when the path ends and one is left, it climbs back through the
/// parent links to the deepest one. No recursion and no stack: either made
/// the compiler retain and release the topic's storage around the walk on
/// every check (~50 instructions, a fifth of one). It stops as soon as the
/// answer is known: at a deny (nothing can undo it) or, when the client has
/// no deny rule at all, at the first grant of what was asked.
struct FrozenAccessTrie {
    private let nodes: UnsafeMutablePointer<AccessTrie.Node>
    private let slots: UnsafeMutablePointer<UInt64>
    private let slotMask: Int
    private let labels: UnsafeMutablePointer<UInt8>
    private let hasDeny: Bool

    init(_ trie: AccessTrie) {
        nodes = .allocate(capacity: trie.nodes.count)
        nodes.initialize(from: trie.nodes, count: trie.nodes.count)
        slots = .allocate(capacity: trie.slots.count)
        slots.initialize(from: trie.slots, count: trie.slots.count)
        slotMask = trie.slots.count - 1
        labels = .allocate(capacity: max(1, trie.labels.count))
        labels.initialize(from: trie.labels, count: trie.labels.count)
        hasDeny = trie.nodes.contains { $0.exact.contains(.deny) || $0.subtree.contains(.deny) }
    }

    func deallocate() {
        nodes.deallocate()
        slots.deallocate()
        labels.deallocate()
    }

    /// The bits of the rules that match a topic name (PUBLISH, delivery):
    /// enough of them to decide whether `wanted` is granted.
    @inline(never)
    func bits(matchingTopic topic: String, wanted: AccessBits) -> AccessBits {
        walk(topic, wanted: wanted) { walk, bits in walk.match(into: &bits) }
    }

    /// The bits of the rules that cover a topic filter (SUBSCRIBE): every
    /// topic the filter matches, they match too.
    func bits(coveringFilter filter: String, wanted: AccessBits) -> AccessBits {
        walk(filter, wanted: wanted) { walk, bits in walk.cover(into: &bits) }
    }

    /// Over the text's bytes in place: native strings are contiguous, so
    /// only a bridged one is copied.
    @inline(__always)
    private func walk(_ text: String, wanted: AccessBits, _ body: (Walk, inout AccessBits) -> Void) -> AccessBits {
        let stop = hasDeny ? AccessBits.deny : AccessBits.deny.union(wanted)
        let walked: AccessBits? = text.utf8.withContiguousStorageIfAvailable { walk($0, stop: stop, body) }
        if let walked { return walked }
        return Array(text.utf8).withUnsafeBufferPointer { walk($0, stop: stop, body) }
    }

    @inline(__always)
    private func walk(_ bytes: UnsafeBufferPointer<UInt8>, stop: AccessBits, _ body: (Walk, inout AccessBits) -> Void) -> AccessBits {
        var bits = AccessBits()
        guard let text = bytes.baseAddress, !bytes.isEmpty else { return bits }
        body(Walk(trie: self, text: text, count: bytes.count, stop: stop), &bits)
        return bits
    }

    /// One check: the trie and the text's bytes.
    private struct Walk {
        let trie: FrozenAccessTrie
        let text: UnsafePointer<UInt8>
        let count: Int
        /// Bits that settle the answer once seen.
        let stop: AccessBits

        /// Levels run from `start` to the next '/'; `start` past the end
        /// means the text has no level left (a trailing '/' leaves one empty level).
        @inline(__always)
        func match(into bits: inout AccessBits) {
            var node = AccessTrie.root
            var start = 0
            var untried = 0  // `+` children passed on the way down
            while true {
                let current = trie.nodes[Int(node)]
                let wildcards = wildcardsApply(at: node)
                if wildcards { bits.formUnion(current.subtree) }
                if start > count {
                    bits.formUnion(current.exact)
                } else if bits.isDisjoint(with: stop) {
                    let plus = wildcards ? current.plus : -1
                    if current.literals > 0 || plus >= 0 {
                        let (literal, end) = literalChild(of: node, current, levelAt: start)
                        if literal >= 0, plus >= 0 { untried &+= 1 }
                        let next = literal >= 0 ? literal : plus
                        if next >= 0 {
                            node = next
                            start = end &+ 1
                            continue
                        }
                    }
                }
                guard untried > 0, bits.isDisjoint(with: stop) else { return }
                untried &-= 1
                backtrack(node: &node, start: &start)
            }
        }

        /// Like `match`, for a filter: a `+` level is covered only by a `+`
        /// rule level, a `#` level only by a `#` rule level (both reach here
        /// through `subtree`), a literal level by a `+` or the same literal.
        @inline(__always)
        func cover(into bits: inout AccessBits) {
            var node = AccessTrie.root
            var start = 0
            var untried = 0
            while true {
                let current = trie.nodes[Int(node)]
                let wildcards = wildcardsApply(at: node)
                if wildcards { bits.formUnion(current.subtree) }
                if start > count {
                    bits.formUnion(current.exact)
                } else if bits.isDisjoint(with: stop) {
                    let (literal, end) = literalChild(of: node, current, levelAt: start)
                    var next: Int32 = -1
                    if end &- start == 1, text[start] == AccessTrie.hashSign {
                        // `a/#` includes `a` itself, which only `a/#` rules match.
                        // A filter `#` has no such zero-level topic, so `+/#` covers it.
                        if node == AccessTrie.root, current.plus >= 0 { bits.formUnion(trie.nodes[Int(current.plus)].subtree) }
                    } else if end &- start == 1, text[start] == AccessTrie.plusSign {
                        next = current.plus
                    } else {
                        let plus = wildcards ? current.plus : -1
                        if literal >= 0, plus >= 0 { untried &+= 1 }
                        next = literal >= 0 ? literal : plus
                    }
                    if next >= 0 {
                        node = next
                        start = end &+ 1
                        continue
                    }
                }
                guard untried > 0, bits.isDisjoint(with: stop) else { return }
                untried &-= 1
                backtrack(node: &node, start: &start)
            }
        }

        /// MQTT's `$` rule (3.1.1 section 4.7.2): `#` and `+` as a rule's
        /// first level do not match a topic starting with `$`, so `$SYS/#`
        /// and `$DLQ/#` need a grant that names them. A filter starting with
        /// `$` starts with a literal level; one starting with a wildcard
        /// matches no `$` topic, so the root's wildcards may cover it.
        @inline(__always)
        private func wildcardsApply(at node: Int32) -> Bool {
            node != AccessTrie.root || text[0] != AccessTrie.dollarSign
        }

        /// Climbs from `node` (whose level ends just before `start`) to the
        /// deepest ancestor whose `+` child was passed for its literal one,
        /// and moves to that `+` child, which takes the same level.
        @inline(__always)
        private func backtrack(node: inout Int32, start: inout Int) {
            while true {
                let parent = trie.nodes[Int(node)].parent
                let plus = trie.nodes[Int(parent)].plus
                if plus >= 0, plus != node, wildcardsApply(at: parent) {
                    node = plus
                    return
                }
                var levelStart = start &- 1
                while levelStart > 0, text[levelStart &- 1] != AccessTrie.slash { levelStart &-= 1 }
                node = parent
                start = levelStart
            }
        }

        /// The literal child of `node` named by the level at `start`, or -1,
        /// and where that level ends. One literal child is compared without
        /// hashing; more are looked up by hash, and the bytes compared then
        /// too: the hash is no proof, and a client must not reach a topic by
        /// naming a level with the same hash.
        @inline(__always)
        private func literalChild(of node: Int32, _ current: AccessTrie.Node, levelAt start: Int) -> (Int32, Int) {
            guard current.literals > 1 else {
                let end = TopicLevelScan.levelEnd(in: text, from: start, count: count)
                guard current.literals == 1, hasLabel(current.firstLiteral, start: start, end: end) else { return (-1, end) }
                return (current.firstLiteral, end)
            }
            let (end, hash) = TopicLevelScan.level(in: text, from: start, count: count)
            let key = AccessTrie.key(parent: node, hash: hash)
            let tag = key >> 32
            var index = Int(truncatingIfNeeded: key) & trie.slotMask
            while true {
                let slot = trie.slots[index]
                guard slot != 0 else { return (-1, end) }
                if slot >> 32 == tag {
                    let child = Int32(truncatingIfNeeded: slot)
                    if trie.nodes[Int(child)].parent == node, hasLabel(child, start: start, end: end) { return (child, end) }
                }
                index = (index &+ 1) & trie.slotMask
            }
        }

        @inline(__always)
        private func hasLabel(_ child: Int32, start: Int, end: Int) -> Bool {
            let node = trie.nodes[Int(child)]
            return Int(node.labelCount) == end &- start
                && TopicLevelScan.equal(trie.labels + Int(node.labelStart), text + start, count: end &- start)
        }
    }
}
