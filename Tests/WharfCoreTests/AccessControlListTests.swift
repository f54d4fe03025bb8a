import Foundation
import Testing
import WharfCore

/// The ACL file parser: Mosquitto's format, line by line.
@Suite struct AccessControlListTests {
    private typealias Rule = AccessControlList.Rule

    private func parse(_ text: String) throws -> AccessControlList {
        try AccessControlList(text: text, file: "test.acl")
    }

    /// The error a text raises, or nil when it parses.
    private func failure(_ text: String) -> AccessControlFileError? {
        do {
            _ = try AccessControlList(text: text, file: "test.acl")
            return nil
        } catch {
            return error
        }
    }

    /// Mosquitto's aclfile.example, as shipped with the broker, word for word.
    @Test func mosquittoExampleFile() throws {
        let acl = try parse(
            """
            # This affects access control for clients with no username.
            topic read $SYS/#

            # This only affects clients with username "roger".
            user roger
            topic foo/bar

            # This affects all clients.
            pattern write $SYS/broker/connection/%c/state
            """)
        #expect(acl.anonymousRules == [Rule(access: .read, filter: "$SYS/#", line: 2)])
        #expect(acl.userNames == ["roger"])
        #expect(acl.rules(forUser: "roger") == [Rule(access: .readwrite, filter: "foo/bar", line: 6)])
        #expect(acl.patterns == [Rule(access: .write, filter: "$SYS/broker/connection/%c/state", line: 9)])
        #expect(acl.warnings.isEmpty)
    }

    /// The examples of mosquitto.conf(5)'s acl_file section.
    @Test func manPageExamples() throws {
        let acl = try parse("pattern write sensor/%u/data\npattern write $SYS/broker/connection/%c/state\n")
        #expect(acl.patterns.map(\.filter) == ["sensor/%u/data", "$SYS/broker/connection/%c/state"])
        #expect(acl.patterns.allSatisfy { $0.access == .write })
    }

    /// Every access word, and readwrite when there is none.
    @Test func accessWords() throws {
        let acl = try parse("topic read a\ntopic write b\ntopic readwrite c\ntopic deny d\ntopic e\n")
        #expect(acl.anonymousRules.map(\.access) == [.read, .write, .readwrite, .deny, .readwrite])
        #expect(acl.anonymousRules.map(\.filter) == ["a", "b", "c", "d", "e"])
        #expect(acl.anonymousRules.map(\.line) == [1, 2, 3, 4, 5])
    }

    /// `topic` lines belong to the latest `user`; before any, to anonymous
    /// clients; `pattern` lines belong to everyone wherever they stand.
    @Test func sections() throws {
        let acl = try parse(
            """
            topic anon/1
            pattern read p/%c/1
            user alice
            topic alice/1
            pattern read p/%u/2
            user bob
            topic bob/1
            user alice
            topic alice/2
            """)
        #expect(acl.anonymousRules.map(\.filter) == ["anon/1"])
        #expect(acl.rules(forUser: nil).map(\.filter) == ["anon/1"])
        #expect(acl.rules(forUser: "alice").map(\.filter) == ["alice/1", "alice/2"])
        #expect(acl.rules(forUser: "bob").map(\.filter) == ["bob/1"])
        #expect(acl.rules(forUser: "carol").isEmpty)
        #expect(acl.userNames == ["alice", "bob"])
        #expect(acl.patterns.map(\.filter) == ["p/%c/1", "p/%u/2"])
    }

    /// Mosquitto's tokens: the filter is the rest of the line after the
    /// access word (spaces kept, ends trimmed), a user name likewise.
    @Test func spacesInTopicsAndNames() throws {
        let acl = try parse("user John Smith  \ntopic read   living room/lamp  \ntopic  write  a b\n")
        #expect(acl.userNames == ["John Smith"])
        #expect(
            acl.rules(forUser: "John Smith") == [
                Rule(access: .read, filter: "living room/lamp", line: 2), Rule(access: .write, filter: "a b", line: 3),
            ])
    }

    /// A filter with a space needs its access word: the first word is read as one.
    @Test func spaceWithoutAccessWord() {
        let error = failure("topic living room")
        #expect(error?.line == 1)
        #expect(error?.problem.contains("unknown access type 'living'") == true)
    }

    /// As in Mosquitto, a lone word after `topic` is the filter, even `read`.
    @Test func loneAccessWordIsTheFilter() throws {
        let acl = try parse("topic read")
        #expect(acl.anonymousRules == [Rule(access: .readwrite, filter: "read", line: 1)])
    }

    /// Comments, blank lines, CRLF line ends, and indentation.
    @Test func commentsAndWhiteSpace() throws {
        let acl = try parse("# a comment\r\n\r\n   \r\n\ttopic read a/b\r\n  # indented comment\r\n  user  u1\r\n topic c\t\r\n")
        #expect(acl.anonymousRules == [Rule(access: .read, filter: "a/b", line: 4)])
        #expect(acl.rules(forUser: "u1") == [Rule(access: .readwrite, filter: "c", line: 7)])
    }

    /// An empty file, or one of comments only, grants nothing and is no error.
    @Test func emptyFile() throws {
        for text in ["", "\n\n", "# nothing\n"] {
            let acl = try parse(text)
            #expect(acl.anonymousRules.isEmpty && acl.patterns.isEmpty && acl.userNames.isEmpty)
        }
    }

    /// Keywords and access words are case-sensitive, as strcmp is.
    @Test func caseSensitiveWords() {
        #expect(failure("Topic a")?.problem == "unknown keyword 'Topic' (expected user, topic or pattern)")
        #expect(failure("topic READ a")?.problem == "unknown access type 'READ' (expected read, write, readwrite or deny)")
    }

    /// Each error names the file, the line, and what is wrong.
    @Test func errorsNameFileLineAndProblem() {
        let cases: [(String, Int, String)] = [
            ("topic a\n\ntopic", 3, "'topic' needs a topic filter: topic [read|write|readwrite|deny] FILTER"),
            ("pattern   ", 1, "'pattern' needs a topic filter: pattern [read|write|readwrite|deny] FILTER"),
            ("# ok\ntopic reed a/b", 2, "unknown access type 'reed' (expected read, write, readwrite or deny)"),
            ("topic read a/#/b", 1, "invalid topic filter 'a/#/b' (+ must be a whole level, # the whole last level)"),
            ("user x\ntopic a+", 2, "invalid topic filter 'a+' (+ must be a whole level, # the whole last level)"),
            ("pattern write %c/#x", 1, "invalid topic filter '%c/#x' (+ must be a whole level, # the whole last level)"),
            ("topic a\ntopics b", 2, "unknown keyword 'topics' (expected user, topic or pattern)"),
            ("user", 1, "'user' needs a user name: user NAME"),
            ("user  \t ", 1, "'user' needs a user name: user NAME"),
            ("topic read \(String(repeating: "a/", count: 201))a", 1, "topic filter deeper than 201 levels"),
            ("topic read \(String(repeating: "a", count: 65_536))", 1, "topic filter longer than 65535 bytes"),
        ]
        for (text, line, problem) in cases {
            let error = failure(text)
            #expect(error?.file == "test.acl")
            #expect(error?.line == line, "\(text.prefix(40))")
            #expect(error?.problem == problem, "\(text.prefix(40))")
            #expect(error?.description == "test.acl:\(line): \(problem)")
        }
    }

    /// 201 levels (200 separators) is Mosquitto's limit and still accepted.
    @Test func deepestFilterAccepted() throws {
        let filter = String(repeating: "a/", count: 200) + "#"
        #expect(try parse("topic read \(filter)").anonymousRules.first?.filter == filter)
    }

    /// A tab does not separate words (Mosquitto splits on spaces only).
    @Test func tabIsNotASeparator() throws {
        #expect(failure("topic\tread a")?.problem == "unknown keyword 'topic\tread' (expected user, topic or pattern)")
        // After the access word it is part of the one remaining word, the filter.
        #expect(try parse("topic read\ta").anonymousRules == [Rule(access: .readwrite, filter: "read\ta", line: 1)])
    }

    /// Mosquitto's warning for a pattern nothing is substituted in.
    @Test func patternWithoutSubstitutionWarns() throws {
        let acl = try parse("pattern read a/%c\npattern read fixed/topic\npattern read sensor%c/x\n")
        #expect(acl.warnings.map(\.line) == [2, 3])
        #expect(
            acl.warnings.first?.description
                == "test.acl:2: pattern 'fixed/topic' has no %c or %u level: it is the same topic for every client")
    }

    /// User names are compared byte for byte, not by Unicode equivalence.
    @Test func userNamesAreBytes() throws {
        let acl = try parse("user caf\u{E9}\ntopic a\n")
        #expect(acl.rules(forUser: "caf\u{E9}").count == 1)
        #expect(acl.rules(forUser: "cafe\u{301}").isEmpty)
    }

    /// From a path; a missing file is an error for the whole file (no line).
    @Test func readsFromPath() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-acl-\(UUID().uuidString).acl").path
        try "user u\ntopic read x/#\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let acl = try AccessControlList(path: path)
        #expect(acl.rules(forUser: "u") == [Rule(access: .read, filter: "x/#", line: 2)])

        do {
            _ = try AccessControlList(path: path + ".missing")
            Issue.record("a missing file parsed")
        } catch {
            #expect(error.file == path + ".missing")
            #expect(error.line == nil)
            #expect(error.description.hasPrefix("\(path).missing: cannot be read ("))
        }
    }

    /// An error in a file read from a path names that path.
    @Test func errorFromPathNamesIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-acl-\(UUID().uuidString).acl").path
        try "topic a\nbogus\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: AccessControlFileError.self) { try AccessControlList(path: path) }
        do {
            _ = try AccessControlList(path: path)
        } catch {
            #expect(error.description == "\(path):2: unknown keyword 'bogus' (expected user, topic or pattern)")
        }
    }
}
