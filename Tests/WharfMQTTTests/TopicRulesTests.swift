import Testing
import WharfMQTT

@Suite struct TopicRulesTests {
    /// Valid filters: wildcards only as whole levels, `#` only last (section 4.7.1).
    @Test(arguments: ["#", "+", "a/+/b", "a/#", "+/+", "/", "/+", "+/#", "a//b", "$SYS/#", "sport/tennis/+"])
    func validFilters(_ filter: String) {
        #expect(TopicRules.isValidTopicFilter(filter))
    }

    /// Invalid filters.
    @Test(arguments: ["", "a#", "a/#/b", "#/a", "a+", "+a", "a/b+", "a/+b/c", "##", "++"])
    func invalidFilters(_ filter: String) {
        #expect(!TopicRules.isValidTopicFilter(filter))
    }

    /// Topic names: non-empty, no wildcard characters; other characters and empty levels are fine.
    @Test func topicNames() {
        #expect(TopicRules.isValidTopicName("a/b/c"))
        #expect(TopicRules.isValidTopicName("/"))
        #expect(TopicRules.isValidTopicName("$SYS/broker"))
        #expect(TopicRules.isValidTopicName("ü €"))
        #expect(!TopicRules.isValidTopicName(""))
        #expect(!TopicRules.isValidTopicName("a/+"))
        #expect(!TopicRules.isValidTopicName("a#"))
    }
}
