import Foundation
import Testing

@testable import WharfServer

/// The README's configuration block is held to `ConfigKeys`: the same keys,
/// their declared defaults (or examples), their docs, and every flag named.
@Suite struct ConfigReadmeTests {
    /// A `key = value  # comment` line of the block.
    struct Line {
        let number: Int
        let path: String
        let value: String
        let comment: String?
    }

    /// What a declaration says the README shows.
    struct Declared {
        let path: String
        let kind: ConfigKind
        let shown: ConfigValue
        let doc: String
        let flag: String?

        init<Root>(_ key: ConfigKey<Root>) {
            (path, kind, shown, doc, flag) = (key.path, key.kind, key.defaultValue.documented, key.doc, key.flag?.name)
        }

        var line: String { "\(path.split(separator: ".").last ?? "") = \(shown)  # \(doc)" }
    }

    static let declared =
        ConfigKeys.listener.map(Declared.init) + ConfigKeys.sections.flatMap { $0.keys.map(Declared.init) }
        + ConfigKeys.policy.map(Declared.init)

    static func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// The ```toml blocks of the README, each with the line number of its first line.
    static func tomlBlocks(_ readme: String) -> [(heading: String, firstLine: Int, text: String)] {
        var blocks: [(String, Int, String)] = []
        var heading = ""
        var fenced = false
        var current: (Int, [String])?
        for (index, line) in readme.components(separatedBy: "\n").enumerated() {
            if line.hasPrefix("```") {
                if fenced, let open = current { blocks.append((heading, open.0, open.1.joined(separator: "\n"))) }
                current = !fenced && line == "```toml" ? (index + 2, []) : nil
                fenced.toggle()
            } else if fenced {
                current?.1.append(line)
            } else if line.hasPrefix("#") {
                heading = line
            }
        }
        return blocks
    }

    /// The configuration reference: the ```toml block under "### Configuration file".
    static func referenceBlock() throws -> (firstLine: Int, text: String) {
        let block = try #require(
            tomlBlocks(readme()).first { $0.heading == "### Configuration file" },
            "README.md has no ```toml block under ### Configuration file")
        return (block.firstLine, block.text)
    }

    /// Its keys, by a line scan: TOML parsers drop the comments.
    static func lines(_ block: (firstLine: Int, text: String)) -> [Line] {
        var section = ""
        var lines: [Line] = []
        for (offset, raw) in block.text.components(separatedBy: "\n").enumerated() {
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { continue }
            if text.hasPrefix("[") {
                section = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                continue
            }
            guard let equals = text.firstIndex(of: "=") else { continue }
            let key = text[..<equals].trimmingCharacters(in: .whitespaces)
            let (value, comment) = splitComment(String(text[text.index(after: equals)...]))
            lines.append(Line(number: block.firstLine + offset, path: "\(section).\(key)", value: value, comment: comment))
        }
        return lines
    }

    /// `"a#b"  # note` into the value and the comment (a `#` in quotes is the value's).
    static func splitComment(_ text: String) -> (value: String, comment: String?) {
        var quoted = false
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if escaped {
                escaped = false
                continue
            }
            if character == "\\" {
                escaped = quoted
                continue
            }
            if character == "\"" { quoted.toggle() }
            if character == "#", !quoted {
                let comment = text[text.index(after: index)...].trimmingCharacters(in: .whitespaces)
                return (text[..<index].trimmingCharacters(in: .whitespaces), comment)
            }
        }
        return (text.trimmingCharacters(in: .whitespaces), nil)
    }

    /// The block lists exactly the declared keys, each once.
    @Test func listsExactlyTheDeclaredKeys() throws {
        let lines = Self.lines(try Self.referenceBlock())
        let documented = Dictionary(grouping: lines, by: \.path)
        for key in Self.declared where documented[key.path] == nil {
            Issue.record(
                "README's configuration block lacks \(key.path): add `\(key.line)` to its [\(key.path.split(separator: ".")[0])] table")
        }
        let declared = Set(Self.declared.map(\.path))
        for line in lines where !declared.contains(line.path) {
            Issue.record("README.md:\(line.number) documents \(line.path), which ConfigKeys does not declare")
        }
        for (path, repeats) in documented where repeats.count > 1 {
            Issue.record(
                "README.md documents \(path) \(repeats.count) times (lines \(repeats.map { String($0.number) }.joined(separator: ", ")))")
        }
    }

    /// Each key shows its declared default (or, for a key unset by default, its declared example).
    @Test func showsTheDeclaredDefaults() throws {
        let lines = Dictionary(Self.lines(try Self.referenceBlock()).map { ($0.path, $0) }) { first, _ in first }
        for key in Self.declared {
            guard let line = lines[key.path] else { continue }
            let shown = ConfigTableReader.literal(line.value, as: key.kind)
            #expect(
                shown != nil && shown == key.kind.coerce(key.shown),
                "README.md:\(line.number) shows \(key.path) = \(line.value), but its declaration says \(key.shown)"
            )
        }
    }

    /// Each key's comment is its declared doc.
    @Test func commentsAreTheDeclaredDocs() throws {
        let lines = Dictionary(Self.lines(try Self.referenceBlock()).map { ($0.path, $0) }) { first, _ in first }
        for key in Self.declared {
            guard let line = lines[key.path] else { continue }
            #expect(
                line.comment == key.doc,
                "README.md:\(line.number): the comment on \(key.path) is \"\(line.comment ?? "")\", its declared doc \"\(key.doc)\""
            )
        }
    }

    /// Every TOML example in the README, the reference included, is a config file Wharf accepts.
    @Test func everyTOMLBlockLoads() throws {
        let blocks = Self.tomlBlocks(try Self.readme())
        #expect(!blocks.isEmpty)
        for block in blocks {
            #expect(throws: Never.self, "README.md:\(block.firstLine)") {
                try ConfigFileLoader.parse(block.text, file: "README.md:\(block.firstLine)")
            }
        }
    }

    /// Every declared flag is named in the README.
    @Test func namesEveryFlag() throws {
        let readme = try Self.readme()
        for key in Self.declared {
            guard let flag = key.flag else { continue }
            #expect(readme.contains("--\(flag)"), "README.md never mentions --\(flag), the flag for \(key.path)")
        }
    }
}
