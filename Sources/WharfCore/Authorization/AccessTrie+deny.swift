extension AccessTrie {
    /// Whether some deny rule matches some topic that `filter` (a valid
    /// topic filter) matches. Asked at SUBSCRIBE, not per message, so it
    /// walks the builder's arrays and recurses where the filter's `+` or `#`
    /// takes any level.
    func denyMeets(filter: String) -> Bool {
        let levels = filter.utf8.split(separator: Self.slash, omittingEmptySubsequences: false).map { Array($0) }
        // The `$` rule on both sides: a filter whose first level is a
        // wildcard matches no `$` topic, and neither does a rule's.
        let dollar = levels.first?.first == Self.dollarSign
        return meets(Self.root, levels, 0, dollar: dollar)
    }

    private func meets(_ node: Int32, _ levels: [[UInt8]], _ index: Int, dollar: Bool) -> Bool {
        let current = nodes[Int(node)]
        let atRoot = node == Self.root
        let wildcards = !atRoot || !dollar
        if wildcards, current.subtree.contains(.deny) { return true }
        guard index < levels.count else { return current.exact.contains(.deny) }
        let level = levels[index]
        if level == [Self.hashSign] {
            // `a/#` matches `a` itself; at the root there is no zero-level topic.
            if !atRoot, current.exact.contains(.deny) { return true }
            return children(of: node, skippingDollar: atRoot).contains { denyBelow($0) }
        }
        if level == [Self.plusSign] {
            return children(of: node, skippingDollar: atRoot).contains { meets($0, levels, index + 1, dollar: dollar) }
        }
        if wildcards, current.plus >= 0, meets(current.plus, levels, index + 1, dollar: dollar) { return true }
        var child = current.firstLiteral
        while child >= 0 {
            if label(of: child).elementsEqual(level) { return meets(child, levels, index + 1, dollar: dollar) }
            child = nodes[Int(child)].nextSibling
        }
        return false
    }

    /// Whether a deny rule ends at or below `node`.
    private func denyBelow(_ node: Int32) -> Bool {
        let current = nodes[Int(node)]
        if current.exact.contains(.deny) || current.subtree.contains(.deny) { return true }
        return children(of: node, skippingDollar: false).contains { denyBelow($0) }
    }

    /// The `+` child and the literal ones; at the root, for a filter level
    /// that is a wildcard, none whose label starts with `$`.
    private func children(of node: Int32, skippingDollar: Bool) -> [Int32] {
        var children: [Int32] = []
        let current = nodes[Int(node)]
        if current.plus >= 0 { children.append(current.plus) }
        var child = current.firstLiteral
        while child >= 0 {
            if !(skippingDollar && label(of: child).first == Self.dollarSign) { children.append(child) }
            child = nodes[Int(child)].nextSibling
        }
        return children
    }

    private func label(of node: Int32) -> ArraySlice<UInt8> {
        let current = nodes[Int(node)]
        return labels[Int(current.labelStart)..<Int(current.labelStart + current.labelCount)]
    }
}
