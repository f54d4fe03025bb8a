import Testing
import WharfCore
import WharfMQTT

@Suite struct SubscriptionTreeTests {
    private func matches(_ filter: String, _ topic: String) -> Bool {
        var tree = SubscriptionTree()
        let s = session()
        tree.subscribe(s, filter: filter, qos: .atMostOnce)
        var found: [RouteTarget] = []
        tree.match(topic: topic, into: &found)
        // The trie and the one-off matcher must agree on every case.
        #expect(TopicMatcher.matches(filter: filter, topic: topic) == !found.isEmpty, "\(filter) vs \(topic)")
        return !found.isEmpty
    }

    /// Exact filters match only the same topic, level for level.
    @Test func exactMatch() {
        #expect(matches("a/b", "a/b"))
        #expect(!matches("a/b", "a/b/c"))
        #expect(!matches("a/b", "a"))
        #expect(!matches("a/b", "a/B"))
    }

    /// `+` matches exactly one level, including an empty one.
    @Test func singleLevelWildcard() {
        #expect(matches("a/+/c", "a/b/c"))
        #expect(!matches("a/+/c", "a/b/d/c"))
        #expect(matches("+", "a"))
        #expect(!matches("+", "a/b"))
        #expect(matches("+/+", "/"))
        #expect(matches("a/+", "a/"))
    }

    /// `#` matches the parent level and any number of levels below it.
    @Test func multiLevelWildcard() {
        #expect(matches("a/#", "a"))
        #expect(matches("a/#", "a/b"))
        #expect(matches("a/#", "a/b/c/d"))
        #expect(!matches("a/#", "b/a"))
        #expect(matches("#", "anything/at/all"))
        #expect(matches("+/#", "a/b"))
    }

    /// Filters starting with a wildcard do not match `$` topics (3.1.1 section 4.7.2).
    @Test func dollarTopicsNeedAnExplicitFirstLevel() {
        #expect(!matches("#", "$SYS/broker/uptime"))
        #expect(!matches("+/broker/uptime", "$SYS/broker/uptime"))
        #expect(matches("$SYS/#", "$SYS/broker/uptime"))
        #expect(matches("$SYS/+/uptime", "$SYS/broker/uptime"))
    }

    /// A session with overlapping filters gets one delivery at the highest QoS.
    @Test func overlappingFiltersMergeToMaxQoS() {
        var tree = SubscriptionTree()
        let a = session("a")
        let b = session("b")
        tree.subscribe(a, filter: "x/#", qos: .atMostOnce)
        tree.subscribe(a, filter: "x/+", qos: .exactlyOnce)
        tree.subscribe(a, filter: "x/y", qos: .atLeastOnce)
        tree.subscribe(b, filter: "x/y", qos: .atMostOnce)
        var found: [RouteTarget] = []
        tree.match(topic: "x/y", into: &found)
        #expect(found.count == 2)
        #expect(found.first { $0.session === a }?.qos == .exactlyOnce)
        #expect(found.first { $0.session === b }?.qos == .atMostOnce)
    }

    /// Subscribing again replaces the QoS; unsubscribing removes and prunes.
    @Test func resubscribeAndUnsubscribe() {
        var tree = SubscriptionTree()
        let a = session()
        let added = tree.subscribe(a, filter: "a/b", qos: .atMostOnce)
        let addedAgain = tree.subscribe(a, filter: "a/b", qos: .exactlyOnce)
        #expect(added && !addedAgain)
        #expect(tree.count == 1)
        var found: [RouteTarget] = []
        tree.match(topic: "a/b", into: &found)
        #expect(found.first?.qos == .exactlyOnce)
        let removed = tree.unsubscribe(a, filter: "a/b")
        let removedAgain = tree.unsubscribe(a, filter: "a/b")
        #expect(removed && !removedAgain)
        #expect(tree.count == 0)
        found.removeAll()
        tree.match(topic: "a/b", into: &found)
        #expect(found.isEmpty)
    }

    /// Matching appends to the caller's buffer without touching earlier entries.
    @Test func matchAppendsToScratch() {
        var tree = SubscriptionTree()
        let a = session("a")
        tree.subscribe(a, filter: "t", qos: .atMostOnce)
        var found = [RouteTarget(session: session("z"), qos: .atMostOnce)]
        tree.match(topic: "t", into: &found)
        #expect(found.count == 2)
        #expect(found[1].session === a)
    }
}

/// MQTT forbids normalising topics when matching (3.1.1 section 4.7.3).
@Suite struct ExactMatchingTests {
    static let nfc = "caf\u{E9}"  // é as one scalar
    static let nfd = "cafe\u{301}"  // e + combining acute: canonically equal in Swift

    /// NFC and NFD spellings are different topics to the trie.
    @Test func noNormalisationInTrie() {
        #expect(Self.nfc == Self.nfd, "Swift considers them equal; MQTT does not")
        var tree = SubscriptionTree()
        let s = session()
        tree.subscribe(s, filter: "menu/\(Self.nfc)", qos: .atMostOnce)
        var found: [RouteTarget] = []
        tree.match(topic: "menu/\(Self.nfd)", into: &found)
        #expect(found.isEmpty)
        tree.match(topic: "menu/\(Self.nfc)", into: &found)
        #expect(found.count == 1)
    }

    /// A slash followed by a combining mark still separates levels.
    @Test func slashBeforeCombiningMark() {
        var tree = SubscriptionTree()
        let s = session()
        tree.subscribe(s, filter: "a/+", qos: .atMostOnce)
        var found: [RouteTarget] = []
        tree.match(topic: "a/\u{301}b", into: &found)
        #expect(found.count == 1)
        #expect(TopicMatcher.matches(filter: "a/+", topic: "a/\u{301}b"))
    }

    /// The retained store and the session map keep NFC and NFD apart.
    @Test func retainedAndClientIdsAreExact() {
        var store = RetainedStore()
        store.update(with: message(Self.nfc, "one", retain: true))
        store.update(with: message(Self.nfd, "two", retain: true))
        #expect(store.count == 2)
        let broker = Broker()
        var resend: [OutboundPacket] = []
        let a = broker.openSession(clientId: Self.nfc, cleanSession: false, owner: RecordingTarget(), resend: &resend)
        let b = broker.openSession(clientId: Self.nfd, cleanSession: false, owner: RecordingTarget(), resend: &resend)
        #expect(a.session !== b.session && b.takenOver == nil)
        #expect(broker.sessionCount == 2)
    }
}
