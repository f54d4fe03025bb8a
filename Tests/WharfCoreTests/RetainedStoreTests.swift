import Testing
import WharfCore
import WharfMQTT

@Suite struct RetainedStoreTests {
    /// The last retained message per topic is kept; a newer one replaces it.
    @Test func storesAndReplaces() {
        var store = RetainedStore()
        store.update(with: message("a/b", "one", retain: true))
        store.update(with: message("a/b", "two", retain: true))
        #expect(store.count == 1)
        #expect(store.message(for: "a/b").map { String(buffer: $0.payload) } == "two")
    }

    /// An empty payload clears the topic (3.1.1 section 3.3.1.3).
    @Test func emptyPayloadClears() {
        var store = RetainedStore()
        store.update(with: message("a/b", "one", retain: true))
        store.update(with: message("a/b", "", retain: true))
        #expect(store.count == 0)
        #expect(store.message(for: "a/b") == nil)
    }

    /// Wildcard subscriptions find every matching retained topic, honouring the `$` rule.
    @Test func matchesFilters() {
        var store = RetainedStore()
        for topic in ["a/b", "a/c/d", "b", "$SYS/x"] {
            store.update(with: message(topic, topic, retain: true))
        }
        #expect(Set(store.matching(filter: "a/#").map(\.topic)) == ["a/b", "a/c/d"])
        #expect(Set(store.matching(filter: "+").map(\.topic)) == ["b"])
        #expect(Set(store.matching(filter: "#").map(\.topic)) == ["a/b", "a/c/d", "b"])
        #expect(store.matching(filter: "a/b").map(\.topic) == ["a/b"])
        #expect(store.matching(filter: "$SYS/+").map(\.topic) == ["$SYS/x"])
    }
}
