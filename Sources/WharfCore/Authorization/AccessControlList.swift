import Foundation

/// A Mosquitto `acl_file`, parsed: an existing Mosquitto ACL works unchanged.
///
/// ```
/// # Clients without a user name (lines before the first `user`).
/// topic read $SYS/#
///
/// user roger
/// topic foo/bar
///
/// # Every client, with its client id and user name substituted.
/// pattern write $SYS/broker/connection/%c/state
/// ```
///
/// The list is only the file's content; `access(username:clientId:)` compiles
/// what one client may do into a `ClientAccess`, which is what the broker asks
/// on every PUBLISH and delivery.
public struct AccessControlList: Sendable {
    /// The word after `topic` or `pattern`; `readwrite` when it is left out.
    public enum Access: String, Sendable, CaseIterable {
        case read
        case write
        case readwrite
        /// Refuses read and write where it matches, whatever else grants them.
        case deny
    }

    /// One `topic` or `pattern` line.
    public struct Rule: Sendable, Equatable {
        public let access: Access
        /// A topic filter; in a pattern, `%c` and `%u` levels are still unsubstituted.
        public let filter: String
        /// Where it stands in the file, for messages about it.
        public let line: Int

        public init(access: Access, filter: String, line: Int) {
            self.access = access
            self.filter = filter
            self.line = line
        }
    }

    /// `topic` lines before the first `user` line: Mosquitto 2.x gives them
    /// to clients that connect without a user name, and only to those.
    public let anonymousRules: [Rule]
    /// `pattern` lines, wherever they stand in the file: they apply to every client.
    public let patterns: [Rule]
    /// The names of the `user` sections, in the order they first appear.
    public let userNames: [String]
    /// Things the file means but probably does not intend (a pattern without
    /// `%c` or `%u`, as Mosquitto warns): for the log, never fatal.
    public let warnings: [AccessControlFileError]

    /// Keyed by the name's bytes: Mosquitto compares user names with strcmp,
    /// so "é" and "e" plus a combining accent are two users here too.
    let rulesByUser: [ExactString: [Rule]]
    /// Compiled once here, so a client whose rules no pattern adds to shares
    /// its user's `ClientAccess` and connecting costs no compilation.
    let anonymousAccess: ClientAccess
    let accessByUser: [ExactString: ClientAccess]
    /// A user name the file does not mention: nothing but what patterns grant.
    let unlistedUserAccess: ClientAccess
    let compiledPatterns: [CompiledPattern]
    /// The levels of all patterns: what one client's trie may grow by.
    let patternLevels: Int

    /// Parses the text of an ACL file; `file` names it in errors.
    public init(text: String, file: String) throws(AccessControlFileError) {
        var parser = AccessControlFileParser(file: file)
        try parser.parse(text)
        anonymousRules = parser.anonymousRules
        patterns = parser.patterns
        userNames = parser.userNames
        warnings = parser.warnings
        rulesByUser = parser.rulesByUser
        anonymousAccess = ClientAccess(rules: parser.anonymousRules)
        accessByUser = parser.rulesByUser.mapValues { ClientAccess(rules: $0) }
        unlistedUserAccess = ClientAccess(rules: [])
        compiledPatterns = parser.patterns.map { CompiledPattern(filter: PatternFilter($0.filter), bits: AccessBits($0.access)) }
        patternLevels = compiledPatterns.reduce(0) { $0 + $1.filter.levels.count }
    }

    /// Reads and parses the ACL file at `path`.
    public init(path: String) throws(AccessControlFileError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AccessControlFileError(file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(text: text, file: path)
    }

    /// The `topic` rules of a user section, or the anonymous ones for nil.
    public func rules(forUser username: String?) -> [Rule] {
        guard let username else { return anonymousRules }
        return rulesByUser[ExactString(username)] ?? []
    }
}
