/// Diagnostic text the broker puts in a 5.0 Reason String, a log line or an
/// error description. It often quotes what a client sent (a topic, a filter,
/// a user name), and a client controls how long that is: a 65,535-byte
/// filter quoted in a SUBACK reason, or thousands of them listed, would pass
/// the 65,535 bytes a string field can hold. So quotes are excerpts, and a
/// whole reason is cut to `maxBytes`, always at a Unicode scalar boundary.
public enum ReasonString {
    /// Longest reason string the broker writes: enough to name the problem
    /// and quote its start; Mosquitto and EMQX send shorter ones.
    public static let maxBytes = 256
    /// Longest quote of client input inside a reason.
    public static let maxExcerptBytes = 64

    /// `text` as is if it is short, else its first `maxBytes` bytes and a
    /// note of its full length: `"#/aaaa… (65535 bytes)"`.
    public static func excerpt(_ text: String, maxBytes: Int = maxExcerptBytes) -> String {
        let count = text.utf8.count
        guard count > maxBytes else { return text }
        return "\(prefix(of: text, maxBytes: maxBytes))… (\(count) bytes)"
    }

    /// `items` joined by ", " while they fit `maxBytes`, then "and N more".
    public static func list(_ items: some Collection<String>, noun: String = "items", maxBytes: Int = maxBytes / 2) -> String {
        var text = ""
        var listed = 0
        for item in items {
            let quoted = excerpt(item)
            let separator = listed == 0 ? "" : ", "
            guard text.utf8.count + separator.utf8.count + quoted.utf8.count <= maxBytes else { break }
            text += separator + quoted
            listed += 1
        }
        let rest = items.count - listed
        return rest == 0 ? text : listed == 0 ? "\(rest) \(noun)" : "\(text) and \(rest) more"
    }

    /// `text` cut to the reason-string bound.
    public static func bounded(_ text: String) -> String {
        text.utf8.count <= maxBytes ? text : String(prefix(of: text, maxBytes: maxBytes))
    }

    /// The longest prefix of `text` of at most `maxBytes` UTF-8 bytes that
    /// ends on a scalar boundary (never half a character).
    public static func prefix(of text: String, maxBytes: Int) -> Substring {
        let utf8 = text.utf8
        guard utf8.count > maxBytes else { return text[...] }
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, maxBytes))
        // Continuation bytes are 10xxxxxx: step back to a scalar's first byte.
        while end > utf8.startIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return text[..<end]
    }
}
