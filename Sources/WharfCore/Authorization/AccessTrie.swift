/// What the rules at one place of an `AccessTrie` grant or refuse. A check
/// ORs the bits of every rule that matches, then needs its grant without deny.
struct AccessBits: OptionSet, Sendable {
    let rawValue: UInt8

    static let read = AccessBits(rawValue: 1)
    static let write = AccessBits(rawValue: 2)
    static let deny = AccessBits(rawValue: 4)

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init(_ access: AccessControlList.Access) {
        switch access {
        case .read: self = .read
        case .write: self = .write
        case .readwrite: self = [.read, .write]
        case .deny: self = .deny
        }
    }

    /// `grant` is there and no rule refuses: deny wins over any grant.
    @inline(__always)
    func grants(_ grant: AccessBits) -> Bool {
        contains(grant) && !contains(.deny)
    }
}

/// One client's rules as a trie of topic levels, with `+` and `#` as
/// children of their own, and every rule's bits (read, write, deny) where its
/// filter ends.
///
/// Why a trie and not a list: the broker checks every PUBLISH (write) and
/// every delivery (read), and a client may have a thousand rules. Matching
/// them one by one costs O(rules) per message; a walk of this trie costs
/// O(levels of the topic), times the `+` branches on its path, whatever the
/// number of rules. The acceptance bar is 5% of a QoS 0 message's
/// instructions with a 1,000-rule ACL.
///
/// Why this layout: the check must not allocate or take references. Nodes,
/// label bytes and the literal-child hash table are flat arrays of plain
/// values, copied once more into raw memory (`FrozenAccessTrie`) for the
/// checks; a check finds each topic level's end and hashes it in the same
/// pass, eight bytes at a time (`TopicLevelScan`), probes one table keyed by
/// (parent, level) and compares the bytes in place. No level becomes a String
/// or Substring, no dictionary hashes one. Plain values also make the trie
/// cheap to copy: a client whose patterns add rules starts from a copy of its
/// user's trie instead of a rebuild.
///
/// Read, write and deny share one trie: one walk answers all three, where
/// three tries would be walked twice per check (the grant, then deny).
struct AccessTrie: Sendable {
    struct Node: Sendable {
        var parent: Int32
        /// The level's bytes in `labels`; `labelCount` is -1 for a `+` child.
        var labelStart: Int32
        var labelCount: Int32
        var labelHash: UInt64
        /// The `+` child, or -1.
        var plus: Int32 = -1
        /// How many literal children, and the first of them: a node with one
        /// (most are, below the first levels) is checked without hashing.
        var literals: Int32 = 0
        var firstLiteral: Int32 = -1
        /// The next literal child of the same parent, or -1: the list a
        /// SUBSCRIBE-time walk goes through where a filter's `+` takes any level.
        var nextSibling: Int32 = -1
        /// Rules whose filter ends at this level.
        var exact = AccessBits()
        /// Rules whose filter is this level then `#`: they match this level
        /// and everything below it (`a/#` matches `a`). At the root, the rule `#`.
        var subtree = AccessBits()
    }

    static let root: Int32 = 0

    private(set) var nodes = [Node(parent: -1, labelStart: 0, labelCount: 0, labelHash: 0)]
    private(set) var labels: [UInt8] = []
    /// Open addressing, linear probing, keyed by (parent, level hash). A slot
    /// holds a literal child's node index in its low 32 bits and a tag from
    /// the key's hash in the high 32, so a probe rejects other keys without
    /// reading their node; 0 is empty (the root is nobody's child). A power
    /// of two, at most a quarter full: probes stay near one.
    private(set) var slots = [UInt64](repeating: 0, count: 16)
    private var literalCount = 0

    /// Adds a rule. `filter` must be a valid topic filter.
    mutating func insert(filter: String, bits: AccessBits) {
        insert(levels: filter.utf8.split(separator: Self.slash, omittingEmptySubsequences: false).map { Array($0)[...] }, bits: bits)
    }

    /// Adds a rule given as its levels (a pattern's, substituted as they are read).
    mutating func insert<Levels: Collection>(levels: Levels, bits: AccessBits) where Levels.Element == ArraySlice<UInt8> {
        var node = Self.root
        var remaining = levels.count
        for label in levels {
            remaining -= 1
            if label.count == 1, label.first == Self.hashSign {
                nodes[Int(node)].subtree.formUnion(bits)
                return
            }
            if label.count == 1, label.first == Self.plusSign {
                node = plusChild(of: node)
            } else {
                let hash = label.withUnsafeBufferPointer { bytes in
                    bytes.baseAddress.map { TopicLevelScan.level(in: $0, from: 0, count: bytes.count).hash } ?? TopicLevelScan.seed
                }
                node = literalChild(of: node, label: label, hash: hash)
            }
            if remaining == 0 { nodes[Int(node)].exact.formUnion(bits) }
        }
    }

    /// Room for `count` more literal levels without growing the table on
    /// the way: a client's patterns are added to a copy of its user's trie.
    mutating func reserve(literals count: Int, labelBytes: Int) {
        var capacity = slots.count
        while (literalCount + count) * 4 > capacity { capacity *= 2 }
        if capacity > slots.count { rehash(capacity: capacity) }
        nodes.reserveCapacity(nodes.count + count)
        labels.reserveCapacity(labels.count + labelBytes)
    }

    private mutating func plusChild(of parent: Int32) -> Int32 {
        let existing = nodes[Int(parent)].plus
        if existing >= 0 { return existing }
        let child = Int32(nodes.count)
        nodes.append(Node(parent: parent, labelStart: 0, labelCount: -1, labelHash: 0))
        nodes[Int(parent)].plus = child
        return child
    }

    private mutating func literalChild(of parent: Int32, label: ArraySlice<UInt8>, hash: UInt64) -> Int32 {
        let key = Self.key(parent: parent, hash: hash)
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: key) & mask
        while slots[index] != 0 {
            let child = Int32(truncatingIfNeeded: slots[index])
            let candidate = nodes[Int(child)]
            if candidate.parent == parent, candidate.labelHash == hash, Int(candidate.labelCount) == label.count,
                sameLabel(at: Int(candidate.labelStart), label)
            {
                return child
            }
            index = (index + 1) & mask
        }
        let child = Int32(nodes.count)
        nodes.append(Node(parent: parent, labelStart: Int32(labels.count), labelCount: Int32(label.count), labelHash: hash))
        labels.append(contentsOf: label)
        nodes[Int(child)].nextSibling = nodes[Int(parent)].firstLiteral
        nodes[Int(parent)].firstLiteral = child
        nodes[Int(parent)].literals += 1
        slots[index] = Self.slot(child: child, key: key)
        literalCount += 1
        if literalCount * 4 > slots.count { rehash(capacity: slots.count * 2) }
        return child
    }

    private func sameLabel(at start: Int, _ label: ArraySlice<UInt8>) -> Bool {
        labels.withUnsafeBufferPointer { stored in
            label.withUnsafeBufferPointer { wanted in
                guard let storedBase = stored.baseAddress, let wantedBase = wanted.baseAddress else { return wanted.isEmpty }
                return TopicLevelScan.equal(storedBase + start, wantedBase, count: wanted.count)
            }
        }
    }

    private mutating func rehash(capacity: Int) {
        slots = [UInt64](repeating: 0, count: capacity)
        let mask = capacity - 1
        for (offset, node) in nodes.enumerated() where offset != Int(Self.root) && node.labelCount >= 0 {
            let key = Self.key(parent: node.parent, hash: node.labelHash)
            var index = Int(truncatingIfNeeded: key) & mask
            while slots[index] != 0 { index = (index + 1) & mask }
            slots[index] = Self.slot(child: Int32(offset), key: key)
        }
    }

    static let slash = UInt8(ascii: "/")
    static let plusSign = UInt8(ascii: "+")
    static let hashSign = UInt8(ascii: "#")
    static let dollarSign = UInt8(ascii: "$")

    /// The hash of (parent, level hash): its low bits pick the slot, its high 32 are the tag.
    @inline(__always)
    static func key(parent: Int32, hash: UInt64) -> UInt64 {
        var mixed = hash ^ (UInt64(UInt32(bitPattern: parent)) &* 0x9E37_79B9_7F4A_7C15)
        mixed = (mixed ^ (mixed >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return mixed ^ (mixed >> 32)
    }

    @inline(__always)
    static func slot(child: Int32, key: UInt64) -> UInt64 {
        (key & 0xFFFF_FFFF_0000_0000) | UInt64(UInt32(bitPattern: child))
    }
}
