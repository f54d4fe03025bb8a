import WharfMQTT

/// What a client does with a topic, as the ACL sees it. The raw values are
/// Prometheus label values (`action="publish"`).
public enum TopicAction: String, Sendable, CaseIterable {
    /// PUBLISH from the client: needs write access to the topic name.
    case publish
    /// SUBSCRIBE: the filter must be covered by one read grant.
    case subscribe
    /// A delivery to the client: needs read access to the topic name.
    case receive
}

/// One client's rules, compiled at CONNECT (see
/// `AccessControlList.access(username:clientId:)`) into a trie that answers
/// in O(topic levels) however many rules there are.
///
/// Deny wins over any grant: a topic some `deny` rule matches is refused
/// whatever else grants it. Mosquitto checks a user's rules before the
/// patterns and stops at the first match, deny rules first within each list,
/// so there a user's grant beats a pattern's deny; here that deny holds.
/// That is the one place Wharf is stricter than Mosquitto with the same file.
public final class ClientAccess: @unchecked Sendable {  // immutable after init; `frozen` is its own memory, freed in deinit
    /// The rules as built, kept to start a client's trie from when patterns add to it.
    let trie: AccessTrie
    private let frozen: FrozenAccessTrie

    init(trie: AccessTrie) {
        self.trie = trie
        frozen = FrozenAccessTrie(trie)
    }

    deinit { frozen.deallocate() }

    convenience init(rules: [AccessControlList.Rule]) {
        var trie = AccessTrie()
        for rule in rules { trie.insert(filter: rule.filter, bits: AccessBits(rule.access)) }
        self.init(trie: trie)
    }

    /// Whether the client may publish to (`.publish`) or receive (`.receive`)
    /// a topic name; `.subscribe` treats `topic` as a filter, as
    /// `allowsSubscription(filter:)` does.
    public func allows(_ action: TopicAction, topic: String) -> Bool {
        // One walk, called: inlining it once per action doubled the function
        // and its register spills on the per-message path.
        guard action != .subscribe else { return allowsSubscription(filter: topic) }
        let wanted: AccessBits = action == .publish ? .write : .read
        return frozen.bits(matchingTopic: topic, wanted: wanted).grants(wanted)
    }

    /// Whether the client may subscribe with `filter`: one read rule must
    /// cover it (match every topic it matches) and no deny rule may cover it.
    ///
    /// Mosquitto's acl_file leaves SUBSCRIBE alone (2.0 security_default.c and
    /// 2.1 plugins/acl-file/acl_check.c return success with a "FIXME") and
    /// filters at delivery; this is the check its dynamic-security plugin
    /// makes (`sub_acl_check` in 2.0, `mosquitto_sub_matches_acl` in 2.1), on
    /// the read rules: `topic read sensors/#` allows `sensors/+/temp`, and
    /// `#` or `sensors/#` under `topic read sensors/+/temp` is refused. A deny
    /// that covers only part of the filter does not refuse the subscription:
    /// the delivery check (`.receive`) drops what it covers.
    ///
    /// `$share/GROUP/FILTER` is checked as FILTER: the group name is no topic.
    @inline(never)
    public func allowsSubscription(filter: String) -> Bool {
        guard let inner = Self.subscribedFilter(filter), TopicRules.isValidTopicFilter(inner) else { return false }
        return frozen.bits(coveringFilter: inner, wanted: .read).grants(.read)
    }

    /// Whether every topic `filter` matches may be received, so that
    /// deliveries through a subscription to it need no `.receive` check: the
    /// subscription is allowed and no deny rule matches any of its topics.
    /// A `ClientAccess` never changes, so the answer holds for as long as the
    /// subscription does. With `topic read #` and no deny, a `#` subscriber's
    /// deliveries cost no ACL check at all.
    @inline(never)
    public func allowsAllDeliveries(filter: String) -> Bool {
        guard allowsSubscription(filter: filter), let inner = Self.subscribedFilter(filter) else { return false }
        return !trie.denyMeets(filter: inner)
    }

    /// The filter inside a shared subscription, or the filter itself; nil for
    /// a `$share/` without a group or a filter.
    static func subscribedFilter(_ filter: String) -> String? {
        guard filter.utf8.starts(with: "$share/".utf8) else { return filter }
        let afterPrefix = filter.utf8.index(filter.utf8.startIndex, offsetBy: 7)
        guard let slash = filter.utf8[afterPrefix...].firstIndex(of: AccessTrie.slash), slash > afterPrefix else { return nil }
        let inner = filter.utf8[filter.utf8.index(after: slash)...]
        guard !inner.isEmpty else { return nil }
        return String(Substring(inner))
    }
}
