import Testing
import WharfMQTT

/// Topic name and topic filter syntax (3.1.1 section 4.7).
@Suite struct TopicRulesTests {
    /// Valid filters: wildcards only as whole levels, `#` only last (section 4.7.1).
    @Test(arguments: [
        "#", "+", "a/+/b", "a/#", "+/+", "/", "/+", "+/", "+/#", "a//b", "//", "$SYS/#", "sport/tennis/+",
        "sport/+/player1", "+/tennis/#", "/#", "a/b/c/d/e/f/#", "ü/+/€",
    ])
    func validFilters(_ filter: String) {
        #expect(TopicRules.isValidTopicFilter(filter))
    }

    /// Invalid filters: empty, `#` not alone or not last, `+` sharing a level with other characters.
    @Test(arguments: ["", "a#", "a/#/b", "#/a", "#/", "a+", "+a", "a/b+", "a/+b/c", "##", "++", "#+", "+#", "sport/tennis#", "a/#b", "ü+"])
    func invalidFilters(_ filter: String) {
        #expect(!TopicRules.isValidTopicFilter(filter))
    }

    /// Valid topic names: non-empty, no wildcard; empty levels, spaces, `$` and any other characters are fine.
    @Test(arguments: ["a", "a/b/c", "/", "//", "/a", "a/", "$SYS/broker", "ü €", "sport/tennis/player1", " ", "a\u{7F}b", "\u{10FFFF}"])
    func validTopicNames(_ topic: String) {
        #expect(TopicRules.isValidTopicName(topic))
    }

    /// Invalid topic names: empty, or any `+` or `#` at all (section 4.7.1).
    @Test(arguments: ["", "+", "#", "a/+", "a#", "a/#", "+/a", "a+b", "sport/tennis/#", "x/y#z"])
    func invalidTopicNames(_ topic: String) {
        #expect(!TopicRules.isValidTopicName(topic))
    }

    /// Every valid topic name without wildcards is also a valid (exact-match) filter.
    @Test(arguments: ["a", "a/b/c", "/", "$SYS/broker", "ü €"])
    func topicNamesAreFilters(_ topic: String) {
        #expect(TopicRules.isValidTopicFilter(topic))
    }
}
