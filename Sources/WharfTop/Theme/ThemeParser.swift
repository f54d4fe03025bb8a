/// A problem with a theme file, or with finding one. `description` reads like
/// a compiler message: `Themes/nord.theme:12: key 'warning': '#ff00' is not a colour (…)`.
public struct ThemeError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file as the user named it (or `<name>.theme` when no file was found).
    public var file: String
    /// 1-based line, nil when the problem is not on one line (missing roles, unreadable file).
    public var line: Int?
    /// The key the problem is about, when there is one.
    public var key: String?
    public var problem: String

    public init(file: String, line: Int? = nil, key: String? = nil, problem: String) {
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "key '\(key)': " }
        return text + problem
    }
}

/// Parses the `.theme` format described in Themes/README.md:
///
///     # comment
///     name = Nord            # optional; defaults to the file's base name
///     background = #2e3440   # #rrggbb, 0-255 or default
///
/// Every `ColorRole` must be given, so a theme never silently depends on
/// another one.
public enum ThemeParser {
    /// Every key a theme file may use, in the order error messages list them.
    static let knownKeys = ["name"] + ColorRole.allCases.map(\.rawValue)

    static let colorHint = "use #rrggbb, 0-255 or default"

    /// - Parameter file: used in error messages and for the default name.
    public static func parse(_ text: String, file: String) throws(ThemeError) -> Theme {
        var name: String?
        var colors: [ColorRole: ThemeColor] = [:]
        var firstLine: [String: Int] = [:]  // key -> line it was set on, for duplicates

        // `isNewline` also matches "\r\n" (one Character), so CRLF files work.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (offset, rawLine) in lines.enumerated() {
            let number = offset + 1
            var line = Substring(rawLine)
            if number == 1, line.first == "\u{FEFF}" { line = line.dropFirst() }  // byte-order mark
            let trimmed = trimmingSpaces(line)
            if trimmed.isEmpty || trimmed.first == "#" { continue }

            guard let equals = trimmed.firstIndex(of: "=") else {
                let word = trimmed.prefix { $0 != " " && $0 != "\t" }
                throw ThemeError(
                    file: file, line: number, key: String(word),
                    problem: "expected 'key = value' (missing '=')")
            }
            let key = String(trimmingSpaces(trimmed[..<equals]))
            let value = String(trimmingSpaces(stripComment(trimmed[trimmed.index(after: equals)...])))

            guard !key.isEmpty else {
                throw ThemeError(file: file, line: number, problem: "missing key before '='")
            }
            guard knownKeys.contains(key) else {
                throw ThemeError(
                    file: file, line: number, key: key,
                    problem: "unknown key (known keys: \(knownKeys.joined(separator: ", ")))")
            }
            if let first = firstLine[key] {
                throw ThemeError(
                    file: file, line: number, key: key,
                    problem: "duplicate key (first set on line \(first))")
            }
            firstLine[key] = number
            guard !value.isEmpty else {
                throw ThemeError(file: file, line: number, key: key, problem: "missing value")
            }

            if key == "name" {
                name = value
            } else if let role = ColorRole(rawValue: key) {
                colors[role] = try color(value, file: file, line: number, key: key)
            }
        }

        let missing = ColorRole.allCases.filter { colors[$0] == nil }
        guard missing.isEmpty else {
            throw ThemeError(
                file: file,
                problem: "missing roles: \(missing.map(\.rawValue).joined(separator: ", "))"
                    + " (every role must be given)")
        }
        return Theme(name: name ?? baseName(of: file), colors: colors)
    }

    /// Parses one colour value: `#rrggbb`, `0`...`255` or `default`.
    static func color(_ value: String, file: String, line: Int, key: String) throws(ThemeError) -> ThemeColor {
        if value.lowercased() == "default" { return .terminalDefault }

        if value.first == "#" {
            let hex = value.dropFirst()
            if hex.count == 6, hex.allSatisfy(\.isHexDigit), let packed = UInt32(hex, radix: 16) {
                return .rgb(UInt8(packed >> 16), UInt8((packed >> 8) & 0xff), UInt8(packed & 0xff))
            }
        } else if !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // Checking the length first keeps huge numbers from overflowing Int.
            guard value.count <= 3, let index = Int(value), index <= 255 else {
                throw ThemeError(
                    file: file, line: line, key: key,
                    problem: "'\(value)' is out of range: palette indexes are 0-255")
            }
            return .indexed(UInt8(index))
        }
        throw ThemeError(file: file, line: line, key: key, problem: "'\(value)' is not a colour (\(colorHint))")
    }

    /// Drops a trailing comment. Values themselves start with `#` (`#rrggbb`),
    /// so only a `#` after a space or tab, past the start of the value, begins
    /// a comment: `#2e3440 # dark` keeps `#2e3440`.
    static func stripComment(_ text: Substring) -> Substring {
        let value = text.drop { $0 == " " || $0 == "\t" }
        var previous: Character = "x"
        for index in value.indices {
            let character = value[index]
            if character == "#", previous == " " || previous == "\t" {
                return value[..<index]
            }
            previous = character
        }
        return value
    }

    /// Trims spaces and tabs only.
    private static func trimmingSpaces(_ text: Substring) -> Substring {
        let isText: (Character) -> Bool = { $0 != " " && $0 != "\t" }
        guard let first = text.firstIndex(where: isText), let last = text.lastIndex(where: isText) else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }

    /// `Themes/nord.theme` -> `nord`.
    static func baseName(of file: String) -> String {
        let last = file.split(separator: "/").last.map(String.init) ?? file
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return last }
        return String(last[..<dot])
    }
}
