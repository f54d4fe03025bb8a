import Testing
import WharfMQTT
import WharfTestSupport

@testable import WharfCore

/// The retained store's topic trie finds exactly what a scan with
/// `TopicMatcher` finds, and clearing topics leaves no empty nodes behind.
@Suite struct RetainedIndexTests {
    /// Levels for random topics: empty ones, `$` ones, and two spellings of
    /// "é" that are canonically equal but differ in bytes (must not match).
    static let levels = ["a", "b", "c", "", "$SYS", "$x", "a$", "\u{E9}", "e\u{301}", "sensor-1"]

    static func randomTopic(_ random: inout FuzzRandom) -> String {
        let depth = Int.random(in: 1...4, using: &random)
        let topic = (0..<depth).map { _ in levels.randomElement(using: &random)! }.joined(separator: "/")
        return topic.isEmpty ? "a" : topic  // a topic name has at least one character
    }

    static func randomFilter(_ random: inout FuzzRandom) -> String {
        let depth = Int.random(in: 1...4, using: &random)
        var parts = (0..<depth).map { _ in Int.random(in: 0..<3, using: &random) == 0 ? "+" : levels.randomElement(using: &random)! }
        if Bool.random(using: &random) { parts.append("#") }
        let filter = parts.joined(separator: "/")
        return filter.isEmpty ? "#" : filter
    }

    static let fixedFilters = [
        "#", "+", "+/+", "+/#", "/#", "+//+", "a/#", "a/+", "a/+/#", "a//b", "a/b", "$SYS/#", "$SYS/+", "$SYS", "+/$SYS",
        "$x/+/#", "\u{E9}/#", "e\u{301}", "a$/#", "//", "/+", "a/b/c/#", "+/a", "+/a/+/b", "+//b", "a/+/b/#",
    ]

    /// The split-based matcher `TopicMatcher` replaced, kept here as the
    /// reference for the byte walk.
    static func referenceMatches(filter: String, topic: String) -> Bool {
        if topic.utf8.first == UInt8(ascii: "$") {
            if let first = filter.utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#") { return false }
        }
        var filterLevels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        var topicLevels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        while let level = filterLevels.popFirst() {
            if level.elementsEqual("#".utf8) { return true }
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if level.elementsEqual("+".utf8) { continue }
            if !level.elementsEqual(topicLevel) { return false }
        }
        return topicLevels.isEmpty
    }

    /// Byte order, so two spellings of "é" stay two entries.
    static func sortedBytes(_ topics: [String]) -> [[UInt8]] {
        topics.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Property: over random stores (with topics set, replaced and cleared)
    /// and random filters, the trie returns the brute-force scan's result,
    /// each matching topic exactly once. `wideNode` 0 sends every `+/literal`
    /// through the grandchild indexes (built on the first query, then kept
    /// current by the updates between queries); 3 mixes both ways.
    @Test(arguments: [1 as UInt64, 7, 42, 2024, 0xDEAD_BEEF], [32, 0, 3])
    func trieMatchesTheScan(seed: UInt64, wideNode: Int) {
        var random = FuzzRandom(seed: seed)
        var store = RetainedStore(wideNode: wideNode)
        var live: [ExactString: Bool] = [:]
        for round in 0..<6 {
            for _ in 0..<150 {
                let topic = Self.randomTopic(&random)
                let clear = Int.random(in: 0..<4, using: &random) == 0
                store.update(with: message(topic, clear ? "" : "v\(round)", retain: true))
                live[ExactString(topic)] = clear ? nil : true
            }
            #expect(store.count == live.count)
            let topics = live.keys.map(\.string)
            let filters = Self.fixedFilters + (0..<150).map { _ in Self.randomFilter(&random) }
            for filter in filters where TopicRules.isValidTopicFilter(filter) {
                let expected = topics.filter { TopicMatcher.matches(filter: filter, topic: $0) }
                let found = store.matching(filter: filter).map(\.topic)
                #expect(
                    Self.sortedBytes(found) == Self.sortedBytes(expected),
                    "seed \(seed) wideNode \(wideNode) round \(round) filter \(filter)")
            }
        }
    }

    /// Property: the byte-walking `TopicMatcher` agrees with the split-based
    /// original on every pair, invalid filters included.
    @Test func matcherAgreesWithSplitReference() {
        var random = FuzzRandom(seed: 99)
        let topics = (0..<200).map { _ in Self.randomTopic(&random) } + ["/", "//", "a/", "/a", "$", "$SYS"]
        let filters = Self.fixedFilters + (0..<200).map { _ in Self.randomFilter(&random) } + ["a/#/b", "a+", "#/a", "", "a/"]
        for filter in filters {
            for topic in topics {
                #expect(
                    TopicMatcher.matches(filter: filter, topic: topic) == Self.referenceMatches(filter: filter, topic: topic),
                    "filter \(filter) topic \(topic)"
                )
            }
        }
    }

    /// The cases the spec spells out (3.1.1 section 4.7), on the trie.
    @Test func specExamples() {
        var store = RetainedStore()
        for topic in [
            "sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "/finance", "a//b", "$SYS/monitor/Clients",
            "$SYS",
        ] {
            store.update(with: message(topic, topic, retain: true))
        }
        func found(_ filter: String) -> Set<String> { Set(store.matching(filter: filter).map(\.topic)) }
        #expect(found("sport/#") == ["sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"])
        #expect(found("sport/tennis/player1/#") == ["sport/tennis/player1", "sport/tennis/player1/ranking"])
        #expect(found("sport/+") == ["sport/tennis"])
        #expect(found("+") == ["sport"])
        #expect(found("+/+") == ["sport/tennis", "/finance"])
        #expect(found("/+") == ["/finance"])
        #expect(found("a/+/b") == ["a//b"])
        #expect(found("#") == ["sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "/finance", "a//b"])
        #expect(found("+/monitor/Clients").isEmpty)
        #expect(found("$SYS/#") == ["$SYS/monitor/Clients", "$SYS"])
        #expect(found("$SYS/monitor/+") == ["$SYS/monitor/Clients"])
        #expect(found("sport/tennis") == ["sport/tennis"])
        #expect(found("sport/tennis/#/x") == ["sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"])
    }

    /// Clearing a topic removes the nodes only it used, and keeps those a
    /// retained parent or sibling still needs.
    @Test func clearingRemovesEmptyNodes() {
        var store = RetainedStore()
        store.update(with: message("a/b/c", "1", retain: true))
        store.update(with: message("a", "2", retain: true))
        store.update(with: message("a/x", "3", retain: true))
        #expect(store.nodeCount == 4)  // a, a/b, a/b/c, a/x
        store.update(with: message("a/b/c", "", retain: true))
        #expect(store.nodeCount == 2)  // a/b went with a/b/c
        store.update(with: message("a", "", retain: true))
        #expect(store.nodeCount == 2)  // a still leads to a/x
        #expect(store.matching(filter: "a/#").map(\.topic) == ["a/x"])
        store.update(with: message("a/x", "", retain: true))
        #expect(store.nodeCount == 0)
        #expect(store.count == 0)
        // Clearing what is not there changes nothing.
        store.update(with: message("never/set", "", retain: true))
        #expect(store.nodeCount == 0)
        // A parent keeps its children when it is cleared.
        store.update(with: message("p/q", "1", retain: true))
        store.update(with: message("p", "2", retain: true))
        store.update(with: message("p", "", retain: true))
        #expect(store.nodeCount == 2)
        #expect(store.matching(filter: "p/#").map(\.topic) == ["p/q"])
    }

    /// Churn through many distinct topics leaves nothing behind.
    @Test func churnLeavesNoNodes() {
        var store = RetainedStore()
        var random = FuzzRandom(seed: 5)
        for index in 0..<2_000 {
            let topic = "dev/\(index % 37)/\(Self.randomTopic(&random))/\(index)"
            store.update(with: message(topic, "on", retain: true))
            store.update(with: message(topic, "", retain: true))
        }
        #expect(store.count == 0)
        #expect(store.nodeCount == 0)
    }

    /// The grandchild indexes follow churn too: once every topic below an
    /// indexed node is cleared, they list nothing (no stale nodes kept alive).
    @Test func grandchildIndexesFollowChurn() {
        var store = RetainedStore(wideNode: 0)
        var random = FuzzRandom(seed: 11)
        var topics: [String] = []
        for index in 0..<600 {
            let topic = "dev/\(index % 13)/\(Self.randomTopic(&random))/\(index % 7)"
            topics.append(topic)
            store.update(with: message(topic, "on", retain: true))
            // Queries build the indexes as they go; updates must keep them current.
            if index % 50 == 0 { _ = store.matching(filter: "dev/+/a/+/1") + store.matching(filter: "+/3/+/2") }
        }
        #expect(store.indexEntryCount > 0)
        for topic in topics.shuffled(using: &random) { store.update(with: message(topic, "", retain: true)) }
        #expect(store.count == 0 && store.nodeCount == 0)
        #expect(store.indexEntryCount == 0)
    }

    /// Replacing a retained message keeps one entry and returns the new one.
    @Test func replacingKeepsOneEntry() {
        var store = RetainedStore()
        store.update(with: message("a/b", "old", retain: true))
        store.update(with: message("a/b", "new", retain: true))
        #expect(store.count == 1)
        #expect(store.nodeCount == 2)
        #expect(store.matching(filter: "a/+").map { String(buffer: $0.payload) } == ["new"])
        #expect(store.message(for: "a/b").map { String(buffer: $0.payload) } == "new")
    }

    /// The store is a value: a copy does not see later changes to the original.
    @Test func copiesAreIndependent() {
        var original = RetainedStore()
        original.update(with: message("a/b", "1", retain: true))
        original.update(with: message("a/c", "2", retain: true))
        let copy = original
        original.update(with: message("a/b", "", retain: true))
        original.update(with: message("a/d", "3", retain: true))
        original.update(with: message("a/c", "changed", retain: true))
        #expect(Set(copy.matching(filter: "a/+").map(\.topic)) == ["a/b", "a/c"])
        #expect(copy.message(for: "a/c").map { String(buffer: $0.payload) } == "2")
        #expect(Set(original.matching(filter: "a/+").map(\.topic)) == ["a/c", "a/d"])
        #expect(original.message(for: "a/c").map { String(buffer: $0.payload) } == "changed")
    }

    /// Appending into a caller's buffer keeps what was there.
    @Test func matchingAppends() {
        var store = RetainedStore()
        store.update(with: message("x/1", "1", retain: true))
        store.update(with: message("x/2", "2", retain: true))
        var found = store.matching(filter: "x/1")
        store.matching(filter: "x/+", into: &found)
        #expect(found.map(\.topic).sorted() == ["x/1", "x/1", "x/2"])
    }
}
