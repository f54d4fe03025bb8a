extension AccessControlList {
    /// What one client may do: its user's `topic` rules (the anonymous ones
    /// when it has no user name) and every pattern with its client id and
    /// user name substituted. Meant to be called once, at CONNECT; the answer
    /// is then asked on every message.
    ///
    /// A user name the file does not list gets only what patterns grant, and
    /// a client nothing grants may do nothing (Mosquitto denies by default).
    public func access(username: String?, clientId: String) -> ClientAccess {
        let base: ClientAccess
        if let username {
            base = accessByUser[ExactString(username)] ?? unlistedUserAccess
        } else {
            base = anonymousAccess
        }
        guard !compiledPatterns.isEmpty else { return base }
        // Mosquitto (2.0 security_default.c and 2.1 plugins/acl-file/acl_check.c,
        // "dangerous username/client id"): with a + or # in either, patterns
        // grant nothing at all, so such a client cannot reach the topics of
        // others through a wildcard of its own making. Deny patterns still
        // refuse what they name (deny wins here, see `ClientAccess`).
        let dangerous = Self.isDangerous(username) || Self.isDangerous(clientId)
        let values = PatternFilter.Values(username: username, clientId: clientId)
        var trie = base.trie
        trie.reserve(literals: patternLevels, labelBytes: patternLevels * 16)
        var added = false
        for pattern in compiledPatterns {
            if dangerous, pattern.bits != .deny { continue }
            guard pattern.filter.applies(to: values) else { continue }
            trie.insert(levels: pattern.filter.levels(for: values), bits: pattern.bits)
            added = true
        }
        return added ? ClientAccess(trie: trie) : base
    }

    private static func isDangerous(_ value: String?) -> Bool {
        value?.utf8.contains { $0 == AccessTrie.plusSign || $0 == AccessTrie.hashSign } ?? false
    }
}

/// A `pattern` line ready to substitute.
struct CompiledPattern: Sendable {
    let filter: PatternFilter
    let bits: AccessBits
}
