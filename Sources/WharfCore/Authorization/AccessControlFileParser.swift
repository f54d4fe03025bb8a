import WharfMQTT

/// Reads an ACL file the way Mosquitto 2.x does (`aclfile__parse` in 2.0's
/// src/security_default.c, `acl_file__parse` in 2.1's
/// plugins/acl-file/acl_parse.c), so a file means the same in both brokers:
///
/// - trailing white space is dropped (a CRLF file parses), and a line whose
///   first character is `#` is a comment;
/// - words are separated by spaces only, as `strtok(line, " ")` does;
/// - `topic|pattern [ACCESS] FILTER`: the filter is the rest of the line after
///   the access word, trimmed, so it may contain spaces; with one word only,
///   that word is the filter and the access is `readwrite` (so `topic read`
///   grants readwrite on the topic `read`, as in Mosquitto; a filter with a
///   space needs the access word);
/// - `user NAME`: the name is the rest of the line, trimmed.
///
/// Wharf only accepts more than Mosquitto where Mosquitto refuses the file:
/// white space before the first word (Mosquitto skips spaces but not tabs)
/// and an indented comment (an error in Mosquitto). No file Mosquitto loads
/// means anything different here.
struct AccessControlFileParser {
    let file: String
    private(set) var anonymousRules: [AccessControlList.Rule] = []
    private(set) var rulesByUser: [ExactString: [AccessControlList.Rule]] = [:]
    private(set) var userNames: [String] = []
    private(set) var patterns: [AccessControlList.Rule] = []
    private(set) var warnings: [AccessControlFileError] = []
    /// The latest `user` line's name; nil before the first one.
    private var currentUser: ExactString?

    init(file: String) { self.file = file }

    /// Mosquitto's limits on a filter (`mosquitto_sub_topic_check`): the MQTT
    /// string length, and TOPIC_HIERARCHY_LIMIT separators.
    static let maximumFilterBytes = 65_535
    static let maximumFilterSeparators = 200

    mutating func parse(_ text: String) throws(AccessControlFileError) {
        // Split on the byte: "\r\n" is one Character to String, never "\n".
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            try parse(line: Array(line), number: index + 1)
        }
    }

    private mutating func parse(line: [UInt8], number: Int) throws(AccessControlFileError) {
        var end = line.count
        while end > 0, isBlank(line[end - 1]) { end -= 1 }
        var start = 0
        while start < end, isBlank(line[start]) { start += 1 }
        guard start < end, line[start] != UInt8(ascii: "#") else { return }
        var words = Words(bytes: line[start..<end])
        let keyword = words.next()!
        switch keyword {
        case "topic", "pattern":
            guard let first = words.next() else {
                throw error(number, "'\(keyword)' needs a topic filter: \(keyword) [read|write|readwrite|deny] FILTER")
            }
            let access: AccessControlList.Access
            let filter: String
            if let rest = words.rest() {
                guard let known = AccessControlList.Access(rawValue: first) else {
                    throw error(number, "unknown access type '\(first)' (expected read, write, readwrite or deny)")
                }
                access = known
                filter = rest
            } else {
                access = .readwrite
                filter = first
            }
            try check(filter: filter, line: number)
            let rule = AccessControlList.Rule(access: access, filter: filter, line: number)
            if keyword == "pattern" {
                if !PatternFilter(filter).substitutes {
                    // Mosquitto warns too; and only a whole level is substituted, so `sensor%c` is literal.
                    warnings.append(warning(number, "pattern '\(filter)' has no %c or %u level: it is the same topic for every client"))
                }
                patterns.append(rule)
            } else if let user = currentUser {
                rulesByUser[user, default: []].append(rule)
            } else {
                anonymousRules.append(rule)
            }
        case "user":
            guard let name = words.rest() else { throw error(number, "'user' needs a user name: user NAME") }
            let key = ExactString(name)
            if rulesByUser[key] == nil {
                rulesByUser[key] = []
                userNames.append(name)
            }
            currentUser = key
        default:
            throw error(number, "unknown keyword '\(keyword)' (expected user, topic or pattern)")
        }
    }

    /// Mosquitto refuses the whole file for a filter a client could not subscribe with.
    private func check(filter: String, line: Int) throws(AccessControlFileError) {
        guard TopicRules.isValidTopicFilter(filter) else {
            throw error(line, "invalid topic filter '\(filter)' (+ must be a whole level, # the whole last level)")
        }
        guard filter.utf8.count <= Self.maximumFilterBytes else {
            throw error(line, "topic filter longer than \(Self.maximumFilterBytes) bytes")
        }
        guard filter.topicLevelCount - 1 <= Self.maximumFilterSeparators else {
            throw error(line, "topic filter deeper than \(Self.maximumFilterSeparators + 1) levels")
        }
    }

    private func error(_ line: Int, _ problem: String) -> AccessControlFileError {
        AccessControlFileError(file: file, line: line, problem: problem)
    }

    private func warning(_ line: Int, _ problem: String) -> AccessControlFileError {
        AccessControlFileError(file: file, line: line, problem: problem)
    }
}

/// C's isspace in the "C" locale, which Mosquitto trims with.
private func isBlank(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
}

/// `strtok_r(line, " ")` then `strtok_r(NULL, "")`: words split on spaces
/// (runs of them), and the rest of the line after one word's delimiter.
private struct Words {
    let bytes: ArraySlice<UInt8>
    private var position: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// The next space-separated word, or nil at the end of the line.
    mutating func next() -> String? {
        while position < bytes.endIndex, bytes[position] == UInt8(ascii: " ") { position += 1 }
        guard position < bytes.endIndex else { return nil }
        let start = position
        while position < bytes.endIndex, bytes[position] != UInt8(ascii: " ") { position += 1 }
        let word = String(decoding: bytes[start..<position], as: UTF8.self)
        if position < bytes.endIndex { position += 1 }  // strtok consumes the delimiter
        return word
    }

    /// Everything after the last word's delimiter, trimmed of white space at
    /// both ends; nil when nothing is left (the line's end was trimmed already).
    mutating func rest() -> String? {
        var start = position
        var end = bytes.endIndex
        while start < end, isBlank(bytes[start]) { start += 1 }
        while end > start, isBlank(bytes[end - 1]) { end -= 1 }
        position = bytes.endIndex
        guard start < end else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
