/// Matches one topic filter against one topic name, with the `$` rule:
/// a filter starting with a wildcard does not match a topic starting with `$`
/// (3.1.1 section 4.7.2). The subscription trie does the same per level; this
/// is for scans such as retained messages against a new subscription.
public enum TopicMatcher {
    public static func matches(filter: String, topic: String) -> Bool {
        if topic.utf8.first == UInt8(ascii: "$") {
            if let first = filter.utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#") {
                return false
            }
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
}
