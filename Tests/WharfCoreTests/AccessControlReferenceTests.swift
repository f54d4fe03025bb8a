import Testing
import WharfMQTT
import WharfTestSupport

@testable import WharfCore

/// The compiled trie against a brute-force reference: every rule matched one
/// by one, level by level, on random ACL files, clients, topics and filters.
/// A failure prints its seed; `check(seed:)` replays it alone.
@Suite struct AccessControlReferenceTests {
    /// Random rule sets of a few rules over a small alphabet: many overlaps,
    /// wildcards, `$` levels, substitutions and dangerous ids.
    @Test func smallRuleSetsMatchTheReference() {
        var random = FuzzRandom(seed: 0xAC1)
        for _ in 0..<250 {
            check(seed: random.childSeed(), alphabet: Self.smallAlphabet, rulesPerSection: 0...6)
        }
    }

    /// Larger rule sets over a wide alphabet: the literal table grows and
    /// rehashes, and many rules share prefixes.
    @Test func largeRuleSetsMatchTheReference() {
        var random = FuzzRandom(seed: 0xAC2)
        let wide = Self.smallAlphabet + (0..<60).map { "n\($0)" }
        for _ in 0..<12 {
            check(seed: random.childSeed(), alphabet: wide, rulesPerSection: 100...300)
        }
    }

    /// The witness-based coverage reference agrees with plain matching: if a
    /// rule covers a filter, every topic the filter matches, it matches too.
    @Test func coverageReferenceIsSound() {
        var random = FuzzRandom(seed: 0xAC3)
        for _ in 0..<3_000 {
            let rule = Reference.Rule(
                filter: Self.randomFilter(&random, alphabet: Self.smallAlphabet, pattern: false), access: .read, isPattern: false)
            let filter = Self.randomFilter(&random, alphabet: Self.smallAlphabet, pattern: false)
            guard Reference.covers(rule, filter: filter, username: nil, clientId: "") else { continue }
            for _ in 0..<20 {
                let topic = Self.randomTopic(&random, alphabet: Self.smallAlphabet)
                if TopicMatcher.matches(filter: filter, topic: topic) {
                    #expect(TopicMatcher.matches(filter: rule.filter, topic: topic), "\(rule.filter) covers \(filter) but not \(topic)")
                }
            }
        }
    }

    /// The word-at-a-time level scan and compare against byte loops: a
    /// level's end, a hash that does not depend on where the level sits, and
    /// equality that a single differing byte anywhere breaks.
    @Test func levelScanMatchesByteLoops() {
        var random = FuzzRandom(seed: 0xAC4)
        for _ in 0..<3_000 {
            let length = random.int(0...40)
            let text = (0..<length).map { _ in random.oneIn(6) ? UInt8(ascii: "/") : random.pick(Array("ab$é+#".utf8)) }
            let start = random.int(0...length)
            text.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                let expectedEnd = text[start...].firstIndex(of: UInt8(ascii: "/")) ?? length
                let (end, hash) = TopicLevelScan.level(in: base, from: start, count: length)
                #expect(end == expectedEnd)
                #expect(TopicLevelScan.levelEnd(in: base, from: start, count: length) == expectedEnd)
                // The same level alone, at offset 0 of a buffer of its own, hashes the same.
                let alone = Array(text[start..<end]) + [UInt8(ascii: "/")]
                alone.withUnsafeBufferPointer { #expect(TopicLevelScan.level(in: $0.baseAddress!, from: 0, count: $0.count).hash == hash) }
            }
            let other = random.bool() ? text : text.map { random.oneIn(length + 1) ? $0 ^ 1 : $0 }
            text.withUnsafeBufferPointer { left in
                other.withUnsafeBufferPointer { right in
                    guard let l = left.baseAddress, let r = right.baseAddress else { return }
                    #expect(TopicLevelScan.equal(l, r, count: length) == (text == other))
                }
            }
        }
    }

    // MARK: - One random case

    static let smallAlphabet = ["a", "b", "", "$SYS", "x y", "caf\u{E9}", "alice", "c1"]
    static let usernames: [String?] = [nil, "u1", "u2", "u3", "", "alice", "+", "x#", "a/b", "$SYS"]
    static let clientIds = ["c1", "a", "b", "$SYS", "#", "a+", "a/b", "", "x y", "caf\u{E9}"]

    private func check(seed: UInt64, alphabet: [String], rulesPerSection: ClosedRange<Int>) {
        var random = FuzzRandom(seed: seed)
        let file = Self.randomFile(&random, alphabet: alphabet, rulesPerSection: rulesPerSection)
        let acl: AccessControlList
        do {
            acl = try AccessControlList(text: file.text, file: "random.acl")
        } catch {
            Issue.record("seed \(seed): \(error)")
            return
        }
        let topics = (0..<30).map { _ in Self.randomTopic(&random, alphabet: alphabet) }
        var filters = (0..<15).map { _ in Self.randomFilter(&random, alphabet: alphabet, pattern: false) }
        filters += filters.prefix(3).map { "$share/g/\($0)" }
        for _ in 0..<6 {
            let username = random.pick(Self.usernames)
            let clientId = random.pick(Self.clientIds)
            let client = acl.access(username: username, clientId: clientId)
            let rules = file.rules(for: username)
            let who = "seed \(seed) user \(username ?? "nil") client \(clientId)"
            for topic in topics {
                for action in [TopicAction.publish, .receive] {
                    let expected = Reference.allows(action, topic: topic, rules: rules, username: username, clientId: clientId)
                    #expect(client.allows(action, topic: topic) == expected, "\(who): \(action) \(topic)")
                }
            }
            for filter in filters {
                let expected = Reference.allowsSubscription(filter: filter, rules: rules, username: username, clientId: clientId)
                #expect(client.allowsSubscription(filter: filter) == expected, "\(who): subscribe \(filter)")
                let all = Reference.allowsAllDeliveries(filter: filter, rules: rules, username: username, clientId: clientId)
                #expect(client.allowsAllDeliveries(filter: filter) == all, "\(who): all deliveries of \(filter)")
                // And what it promises: no delivery through the filter is refused.
                if all, let inner = Reference.inner(filter) {
                    for topic in topics where TopicMatcher.matches(filter: inner, topic: topic) {
                        #expect(client.allows(.receive, topic: topic), "\(who): \(filter) promised \(topic)")
                    }
                }
            }
        }
    }

    // MARK: - Generators

    /// An ACL file and, beside it, the rules it means, built independently of the parser.
    struct GeneratedFile {
        var text = ""
        var anonymous: [Reference.Rule] = []
        var users: [String: [Reference.Rule]] = [:]
        var patterns: [Reference.Rule] = []

        func rules(for username: String?) -> [Reference.Rule] {
            let own = username.map { users[$0] ?? [] } ?? anonymous
            return own + patterns
        }
    }

    static func randomFile(_ random: inout FuzzRandom, alphabet: [String], rulesPerSection: ClosedRange<Int>) -> GeneratedFile {
        var file = GeneratedFile()
        var user: String?
        for section in 0..<4 {
            if section > 0 {
                user = random.pick(["u1", "u2"])
                file.text += "user \(user!)\n"
            }
            for _ in 0..<random.int(rulesPerSection) {
                if random.oneIn(6) { file.text += random.bool() ? "# comment\n" : "\n" }
                let isPattern = random.oneIn(3)
                let access = random.pick(AccessControlList.Access.allCases)
                let filter = randomFilter(&random, alphabet: alphabet, pattern: isPattern)
                let word = isPattern ? "pattern" : "topic"
                // The access word may be left out for readwrite, unless the filter has a space.
                if access == .readwrite, !filter.contains(" "), random.bool() {
                    file.text += "\(word) \(filter)\n"
                } else {
                    file.text += "\(word) \(access.rawValue) \(filter)\n"
                }
                let rule = Reference.Rule(filter: filter, access: access, isPattern: isPattern)
                if isPattern {
                    file.patterns.append(rule)
                } else if let user {
                    file.users[user, default: []].append(rule)
                } else {
                    file.anonymous.append(rule)
                }
            }
        }
        return file
    }

    static func randomFilter(_ random: inout FuzzRandom, alphabet: [String], pattern: Bool) -> String {
        if random.oneIn(20) { return "#" }
        var levels: [String] = []
        for _ in 0..<random.int(1...4) {
            switch random.int(0...9) {
            case 0...1: levels.append("+")
            case 2...3 where pattern: levels.append(random.pick(["%c", "%u", "%c", "%u", "%cx"]))
            default: levels.append(random.pick(alphabet))
            }
        }
        if random.oneIn(4) { levels.append("#") }
        let filter = levels.joined(separator: "/")
        return filter.isEmpty ? "a" : filter
    }

    static func randomTopic(_ random: inout FuzzRandom, alphabet: [String]) -> String {
        let topic = (0..<random.int(1...4)).map { _ in random.pick(alphabet + ["u1", "n1", "a/b"]) }.joined(separator: "/")
        return topic.isEmpty ? "b" : topic
    }
}

/// The brute-force reference: Mosquitto's acl_check loop, one rule at a time.
enum Reference {
    struct Rule {
        let filter: String
        let access: AccessControlList.Access
        let isPattern: Bool
    }

    static func allows(_ action: TopicAction, topic: String, rules: [Rule], username: String?, clientId: String) -> Bool {
        let need: AccessControlList.Access = action == .publish ? .write : .read
        var granted = false
        var denied = false
        for rule in applicable(rules, username: username, clientId: clientId)
        where matches(rule, topic: topic, username: username, clientId: clientId) {
            if rule.access == .deny {
                denied = true
            } else if rule.access == .readwrite || rule.access == need {
                granted = true
            }
        }
        return granted && !denied
    }

    /// The filter a subscription is checked as: inside `$share/GROUP/`.
    static func inner(_ filter: String) -> String? {
        guard filter.hasPrefix("$share/") else { return filter }
        let parts = filter.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        return String(parts[2])
    }

    static func allowsAllDeliveries(filter: String, rules: [Rule], username: String?, clientId: String) -> Bool {
        guard allowsSubscription(filter: filter, rules: rules, username: username, clientId: clientId), let inner = inner(filter) else {
            return false
        }
        return !applicable(rules, username: username, clientId: clientId).contains { rule in
            guard rule.access == .deny, let concrete = concreteFilter(rule, username: username, clientId: clientId) else { return false }
            return intersects(concrete, inner)
        }
    }

    /// A rule's filter with its `%c`/`%u` levels replaced, or nil where
    /// the rule can match nothing for this client (see `matches`).
    static func concreteFilter(_ rule: Rule, username: String?, clientId: String) -> String? {
        guard rule.isPattern else { return rule.filter }
        if rule.filter.contains("%u"), username == nil { return nil }
        var levels: [String] = []
        for (index, level) in rule.filter.split(separator: "/", omittingEmptySubsequences: false).enumerated() {
            guard level == "%c" || level == "%u" else {
                levels.append(String(level))
                continue
            }
            guard let value = level == "%c" ? clientId : username, !value.isEmpty,
                !value.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" }), !(index == 0 && value.hasPrefix("$"))
            else { return nil }
            levels.append(value)
        }
        return levels.joined(separator: "/")
    }

    /// Whether two filters match a common topic: level by level, a `+`
    /// takes the other's level, a `#` the rest; the `$` rule on first levels.
    static func intersects(_ lhs: String, _ rhs: String) -> Bool {
        let left = levels(lhs)
        let right = levels(rhs)
        let plus = Array("+".utf8)
        let hash = Array("#".utf8)
        func isWildcard(_ level: [UInt8]) -> Bool { level == plus || level == hash }
        if isWildcard(left[0]) && right[0].first == UInt8(ascii: "$") { return false }
        if isWildcard(right[0]) && left[0].first == UInt8(ascii: "$") { return false }
        var index = 0
        while true {
            let leftDone = index == left.count
            let rightDone = index == right.count
            if leftDone && rightDone { return true }
            if !leftDone && left[index] == hash { return true }
            if !rightDone && right[index] == hash { return true }
            if leftDone || rightDone { return false }
            if left[index] != plus && right[index] != plus && left[index] != right[index] { return false }
            index += 1
        }
    }

    static func allowsSubscription(filter: String, rules: [Rule], username: String?, clientId: String) -> Bool {
        guard let inner = inner(filter), TopicRules.isValidTopicFilter(inner) else { return false }
        var granted = false
        var denied = false
        for rule in applicable(rules, username: username, clientId: clientId)
        where covers(rule, filter: inner, username: username, clientId: clientId) {
            if rule.access == .deny {
                denied = true
            } else if rule.access != .write {
                granted = true
            }
        }
        return granted && !denied
    }

    /// A `+` or `#` in the user name or client id: no pattern grants (acl_check.c).
    private static func applicable(_ rules: [Rule], username: String?, clientId: String) -> [Rule] {
        let dangerous = [username ?? "", clientId].contains { $0.contains("+") || $0.contains("#") }
        return rules.filter { !($0.isPattern && dangerous && $0.access != .deny) }
    }

    /// Level by level, with Mosquitto 2.1's first-character `$` test on the
    /// unsubstituted filter and `%c`/`%u` levels compared with one topic level.
    static func matches(_ rule: Rule, topic: String, username: String?, clientId: String) -> Bool {
        if rule.isPattern, rule.filter.contains("%u"), username == nil { return false }
        if rule.filter.hasPrefix("$") != topic.hasPrefix("$") { return false }
        let filterLevels = levels(rule.filter)
        let topicLevels = levels(topic)
        for (index, level) in filterLevels.enumerated() {
            if level == Array("#".utf8) { return true }
            guard index < topicLevels.count else { return false }
            if level == Array("+".utf8) { continue }
            if rule.isPattern, level == Array("%c".utf8) || level == Array("%u".utf8) {
                let value = level == Array("%c".utf8) ? clientId : username
                guard let value, !value.isEmpty, Array(value.utf8) == topicLevels[index] else { return false }
                continue
            }
            guard level == topicLevels[index] else { return false }
        }
        return filterLevels.count == topicLevels.count
    }

    /// Whether the rule matches every topic the filter matches, tried on the
    /// filter's generic topics: each `+` a level no rule names, and `#` as
    /// none, one and two such levels (none only below the first level: a
    /// topic has one level at least). A rule can tell those levels apart from
    /// any others only by a wildcard, which would match the others too.
    static func covers(_ rule: Rule, filter: String, username: String?, clientId: String) -> Bool {
        let fresh = "~fresh"
        var prefix: [String] = []
        var tails: [[String]] = [[]]
        for level in filter.split(separator: "/", omittingEmptySubsequences: false) {
            if level == "#" {
                tails = (prefix.isEmpty ? [] : [[]]) + [[fresh], [fresh, fresh]]
                break
            }
            prefix.append(level == "+" ? fresh : String(level))
        }
        return tails.allSatisfy { tail in
            matches(rule, topic: (prefix + tail).joined(separator: "/"), username: username, clientId: clientId)
        }
    }

    private static func levels(_ text: String) -> [[UInt8]] {
        text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
    }
}
