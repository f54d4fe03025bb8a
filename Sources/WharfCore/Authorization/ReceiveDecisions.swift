/// The last few topics a session's receive check answered, and the
/// answers: a subscriber mostly hears the same few publishers repeat their
/// topics, and the parser hands a repeated topic back as the same string,
/// so a lookup usually ends at a two-word comparison instead of a walk of
/// the ACL's trie (which, with a deny inside the subscribed subtree, was
/// 7.6% of a fan-in QoS 0 delivery with 1,000 rules; docs/performance.md).
struct ReceiveDecisions: Sendable {
    static let capacity = 8
    private var topics: [String] = []
    private var allowed: [Bool] = []
    private var next = 0

    /// The cached answer for `topic`, if any.
    @inline(__always)
    func answer(for topic: String) -> Bool? {
        // The same string object first (two words compared, no memcmp):
        // that is the usual hit; then by bytes.
        for index in topics.indices where sameRepresentation(topics[index], topic) { return allowed[index] }
        for index in topics.indices where sameUTF8(topics[index], topic) { return allowed[index] }
        return nil
    }

    /// Keeps an answer, replacing the oldest once full.
    mutating func remember(_ topic: String, allowed answer: Bool) {
        if topics.count < Self.capacity {
            topics.append(topic)
            allowed.append(answer)
            return
        }
        topics[next] = topic
        allowed[next] = answer
        next = (next + 1) % Self.capacity
    }

    mutating func forget() {
        topics.removeAll()
        allowed.removeAll()
        next = 0
    }
}
