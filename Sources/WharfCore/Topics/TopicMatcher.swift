/// Matches one topic filter against one topic name, with the `$` rule:
/// a filter starting with a wildcard does not match a topic starting with `$`
/// (3.1.1 section 4.7.2). The subscription trie does the same per level, and
/// so does the retained store's index; this is for one-off checks such as a
/// policy's pattern against a topic.
///
/// It walks both strings' UTF-8 bytes in place, level by level: no split, no
/// allocation (native strings are contiguous; only a bridged, non-contiguous
/// string is copied first). Bytes are compared exactly (3.1.1 section 4.7.3).
public enum TopicMatcher {
    public static func matches(filter: String, topic: String) -> Bool {
        let matched: Bool?? = filter.utf8.withContiguousStorageIfAvailable { filterBytes in
            topic.utf8.withContiguousStorageIfAvailable { topicBytes in
                matches(filter: filterBytes, topic: topicBytes)
            }
        }
        if let matched = matched ?? nil { return matched }
        return Array(filter.utf8).withUnsafeBufferPointer { filterBytes in
            Array(topic.utf8).withUnsafeBufferPointer { matches(filter: filterBytes, topic: $0) }
        }
    }

    private static let slash = UInt8(ascii: "/")
    private static let plus = UInt8(ascii: "+")
    private static let hash = UInt8(ascii: "#")

    /// Same semantics as splitting both on '/' (empty levels kept) and
    /// comparing level by level: `+` takes any one level (an empty one too),
    /// `#` ends the match with success however many levels remain, zero
    /// included (`a/#` matches `a`).
    static func matches(filter: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        if topic.first == UInt8(ascii: "$"), let first = filter.first, first == plus || first == hash {
            return false
        }
        var f = 0  // start of the current filter level
        var t = 0  // start of the current topic level
        var topicExhausted = false  // the topic has no level left at `t`
        while true {
            var filterEnd = f
            while filterEnd < filter.count, filter[filterEnd] != slash { filterEnd += 1 }
            let length = filterEnd - f
            if length == 1, filter[f] == hash { return true }
            guard !topicExhausted else { return false }
            var topicEnd = t
            while topicEnd < topic.count, topic[topicEnd] != slash { topicEnd += 1 }
            if !(length == 1 && filter[f] == plus) {
                guard topicEnd - t == length else { return false }
                var index = 0
                while index < length {
                    guard filter[f + index] == topic[t + index] else { return false }
                    index += 1
                }
            }
            let topicDone = topicEnd == topic.count
            // The filter's last level: a match only if it was the topic's last too.
            guard filterEnd < filter.count else { return topicDone }
            f = filterEnd + 1
            if topicDone { topicExhausted = true } else { t = topicEnd + 1 }
        }
    }
}
