/// A `pattern` line's filter with its `%c` and `%u` levels found, so that
/// substituting one client's values is a join, not a parse.
///
/// Mosquitto 2.1 substitutes only a whole level (`%c` alone between slashes,
/// as its man page has always said): `sensors/%count` is a literal level.
/// 2.0 replaced `%c` anywhere in the string; 2.1's reading is the documented
/// one and the stricter, so Wharf follows it.
struct PatternFilter: Sendable {
    enum Level: Sendable, Equatable {
        case literal([UInt8])
        case clientId
        case username
    }

    let levels: [Level]
    /// `%u` anywhere in the text, even inside a level: Mosquitto skips such a
    /// pattern for a client without a user name (`ucount` counts every `%u`).
    let mentionsUsername: Bool

    init(_ filter: String) {
        levels = filter.utf8.split(separator: AccessTrie.slash, omittingEmptySubsequences: false).map { level in
            if level.elementsEqual("%c".utf8) { return .clientId }
            if level.elementsEqual("%u".utf8) { return .username }
            return .literal(Array(level))
        }
        let bytes = Array(filter.utf8)
        mentionsUsername = zip(bytes, bytes.dropFirst()).contains { $0 == UInt8(ascii: "%") && $1 == UInt8(ascii: "u") }
    }

    /// Whether any level is substituted; one that is not names the same topics for everyone.
    var substitutes: Bool { levels.contains { $0 == .clientId || $0 == .username } }

    /// One client's values, checked once for all its patterns.
    ///
    /// A value that is missing or empty matches nothing (Mosquitto 2.1:
    /// "If NULL, then any %c patterns will not match"; an empty one is refused
    /// the same way). A value holding `/`, `+` or `#` matches nothing: it would
    /// otherwise span several levels or act as a wildcard, so a client id `#`
    /// would turn `devices/%c/#` into `devices/#/#`. In Mosquitto 2.1 the value
    /// is compared with exactly one topic level, which such a value never
    /// equals. And a value starting with `$` in the first level matches
    /// nothing: Mosquitto compares the unsubstituted pattern's first character
    /// with the topic's, so a client id `$SYS` does not turn `%c/#` into `$SYS/#`.
    struct Values {
        let hasUsername: Bool
        let username: [UInt8]?
        let clientId: [UInt8]?

        init(username: String?, clientId: String) {
            hasUsername = username != nil
            self.username = username.flatMap(Self.substitutable)
            self.clientId = Self.substitutable(clientId)
        }

        private static func substitutable(_ value: String) -> [UInt8]? {
            let bytes = Array(value.utf8)
            let usable =
                !bytes.isEmpty && !bytes.contains { $0 == AccessTrie.slash || $0 == AccessTrie.plusSign || $0 == AccessTrie.hashSign }
            return usable ? bytes : nil
        }
    }

    /// Whether the pattern can match anything for a client with these values.
    func applies(to values: Values) -> Bool {
        if mentionsUsername, !values.hasUsername { return false }
        for (index, level) in levels.enumerated() {
            let value: [UInt8]?
            switch level {
            case .literal: continue
            case .clientId: value = values.clientId
            case .username: value = values.username
            }
            guard let value, !(index == 0 && value.first == AccessTrie.dollarSign) else { return false }
        }
        return true
    }

    /// The filter's levels for one client, substituted as they are read;
    /// only for values the pattern `applies(to:)`.
    func levels(for values: Values) -> LazyMapSequence<[Level], ArraySlice<UInt8>> {
        levels.lazy.map { level in
            switch level {
            case .literal(let bytes): return bytes[...]
            case .clientId: return (values.clientId ?? [])[...]
            case .username: return (values.username ?? [])[...]
            }
        }
    }
}
