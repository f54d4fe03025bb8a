import Foundation
import Testing

@testable import WharfTop

/// The repo's Themes directory: Tests/WharfTopTests/ThemeTests.swift -> ../../Themes.
/// Symlinks are resolved so this also works when the file is linked into a scratch package.
private let themesDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Themes").path

private func shippedThemeFiles() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: themesDirectory)) ?? []
    return entries.filter { $0.hasSuffix(".theme") }.sorted()
}

private func loadShipped(_ file: String) throws -> Theme {
    try ThemeLoader.loadFile(atPath: themesDirectory + "/" + file)
}

/// A complete theme file, with some keys replaced or left out.
private func themeText(_ overrides: [String: String] = [:], omitting omitted: Set<String> = []) -> String {
    ColorRole.allCases.map(\.rawValue).filter { !omitted.contains($0) }
        .map { "\($0) = \(overrides[$0] ?? "#102030")" }
        .joined(separator: "\n")
}

/// The RGB a colour shows as (palette indexes via the xterm palette); nil for `default`.
private func rgb(_ color: ThemeColor) -> (UInt8, UInt8, UInt8)? {
    switch color {
    case .rgb(let r, let g, let b): (r, g, b)
    case .indexed(let index): ColorMapping.rgb(ofIndex: index)
    case .terminalDefault: nil
    }
}

/// WCAG relative luminance, 0 (black) to 1 (white).
private func luminance(_ color: ThemeColor) -> Double? {
    guard let (r, g, b) = rgb(color) else { return nil }
    func linear(_ channel: UInt8) -> Double {
        let c = Double(channel) / 255
        return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
    }
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// WCAG contrast ratio, 1 to 21.
private func contrast(_ a: ThemeColor, _ b: ThemeColor) -> Double? {
    guard let la = luminance(a), let lb = luminance(b) else { return nil }
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

private func makeTemporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("wharf-theme-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent,
        withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

private func channels(ofIndex index: UInt8) -> [UInt8] {
    let (r, g, b) = ColorMapping.rgb(ofIndex: index)
    return [r, g, b]
}

@Suite struct ThemeTests {
    // MARK: - Shipped theme files

    @Suite struct ShippedThemes {
        @Test func everyFileParses() throws {
            let files = shippedThemeFiles()
            #expect(files.count >= 6, "found \(files) in \(themesDirectory)")
            var names = Set<String>()
            for file in files {
                let theme = try loadShipped(file)
                #expect(!theme.name.isEmpty)
                #expect(names.insert(theme.name).inserted, "two themes are called \(theme.name)")
            }
            for required in ["default", "nord", "gruvbox-dark", "solarized-light", "dracula", "mono"] {
                #expect(files.contains("\(required).theme"))
            }
        }

        @Test func everyFileStartsWithADescribingComment() throws {
            for file in shippedThemeFiles() {
                let text = try String(contentsOfFile: themesDirectory + "/" + file, encoding: .utf8)
                let first = text.split(separator: "\n").first ?? ""
                #expect(first.hasPrefix("# ") && first.count > 10, "\(file) should start with a comment")
            }
        }

        @Test func oneThemeIsLight() throws {
            let light = try shippedThemeFiles().map(loadShipped).filter { (luminance($0[.background]) ?? 0) > 0.5 }
            #expect(light.map(\.name).contains("Solarized Light"))
        }

        @Test func monoUsesOnlyGreys() throws {
            let mono = try loadShipped("mono.theme")
            for role in ColorRole.allCases {
                let value = try #require(rgb(mono[role]), "\(role) should be an explicit grey")
                #expect(value.0 == value.1 && value.1 == value.2, "\(role) is not grey")
            }
        }

        /// Readability and distinct states, for every shipped theme (mono included:
        /// its states differ by brightness).
        @Test(arguments: shippedThemeFiles())
        func isReadable(file: String) throws {
            let theme = try loadShipped(file)
            let checks: [(ColorRole, ColorRole, Double)] = [
                (.foreground, .background, 4.5),
                (.selectionText, .selection, 4.5),
                (.background, .title, 3),  // the title bar's text, drawn bold
            ]
            for (text, back, minimum) in checks {
                let ratio = try #require(contrast(theme[text], theme[back]))
                #expect(ratio >= minimum, "\(file): \(text) on \(back) has contrast \(ratio)")
            }
            // 75 (redmean) is a little under Solarized's green-to-yellow step, which
            // reads as clearly different; a merely shifted shade scores far less.
            let states: [ColorRole] = [.ok, .warning, .critical]
            for (i, a) in states.enumerated() {
                for b in states[(i + 1)...] {
                    let first = try #require(rgb(theme[a]))
                    let second = try #require(rgb(theme[b]))
                    let distance = (Double(ColorMapping.distanceSquared(first, second)) / 256).squareRoot()
                    #expect(distance >= 75, "\(file): \(a) and \(b) are too alike (\(distance))")
                }
            }
        }

        @Test func fallbackMatchesTheDefaultFile() throws {
            #expect(try loadShipped("default.theme").colors == Theme.fallback.colors)
        }
    }

    // MARK: - Parser

    @Suite struct Parser {
        @Test func commentsBlankLinesAndValueKinds() throws {
            let text = """
                # A test theme

                name = My Theme   # a trailing comment
                \(themeText(omitting: ["background", "foreground", "muted", "accent"]))
                background = default
                \tforeground=#AbCdEf\t# tab before the comment
                   # an indented comment
                muted = 244 # a grey-ramp index
                accent = 0\r
                """
            let theme = try ThemeParser.parse(text + "\n\n", file: "t.theme")
            #expect(theme.name == "My Theme")
            #expect(theme[.background] == .terminalDefault)
            #expect(theme[.foreground] == .rgb(0xab, 0xcd, 0xef))
            #expect(theme[.muted] == .indexed(244))
            #expect(theme[.accent] == .indexed(0))
            #expect(theme[.graphHigh] == .rgb(0x10, 0x20, 0x30))
        }

        /// Values start with '#', so a '#' only starts a comment after a space.
        @Test func hashRightAfterTheValueIsNotAComment() throws {
            let error = try #require(throws: ThemeError.self) {
                try ThemeParser.parse(themeText(["ok": "#00ff00#green"]), file: "c.theme")
            }
            #expect(error.key == "ok" && error.problem.hasPrefix("'#00ff00#green' is not a colour"))
        }

        @Test func nameDefaultsToTheFileBaseName() throws {
            #expect(try ThemeParser.parse(themeText(), file: "Themes/night-owl.theme").name == "night-owl")
            #expect(try ThemeParser.parse(themeText(), file: "plain").name == "plain")
        }

        struct BadLine: Sendable, CustomTestStringConvertible {
            let label: String
            let line: String
            let key: String
            let problem: String
            var testDescription: String { label }
        }

        @Test(arguments: [
            BadLine(
                label: "unknown key", line: "backgruond = #000000", key: "backgruond", problem: "unknown key (known keys: name, background,"
            ),
            BadLine(
                label: "bad hex", line: "warning = #ff00", key: "warning",
                problem: "'#ff00' is not a colour (use #rrggbb, 0-255 or default)"),
            BadLine(label: "not hex digits", line: "warning = #gg0000", key: "warning", problem: "'#gg0000' is not a colour"),
            BadLine(label: "index 256", line: "ok = 256", key: "ok", problem: "'256' is out of range"),
            BadLine(label: "huge index", line: "ok = 99999999999999999999999", key: "ok", problem: "is out of range"),
            BadLine(label: "negative index", line: "ok = -1", key: "ok", problem: "'-1' is not a colour"),
            BadLine(label: "duplicate", line: "border = #ffffff", key: "border", problem: "duplicate key (first set on line 6)"),
            BadLine(label: "missing '='", line: "critical #ff0000", key: "critical", problem: "missing '='"),
            BadLine(label: "missing value", line: "title =  ", key: "title", problem: "missing value"),
        ])
        func errorNamesFileLineAndKey(_ bad: BadLine) throws {
            // A comment, a blank line, then the roles (border on line 6) with the
            // bad line last, replacing its role's good line unless it is the duplicate.
            let others = themeText(omitting: bad.label == "duplicate" ? [] : [bad.key])
            let text = "# theme\n\n" + others + "\n" + bad.line
            let error = try #require(throws: ThemeError.self) {
                try ThemeParser.parse(text, file: "Themes/broken.theme")
            }
            let lineNumber = text.split(separator: "\n", omittingEmptySubsequences: false).count
            #expect(error.file == "Themes/broken.theme")
            #expect(error.line == lineNumber)
            #expect(error.key == bad.key)
            #expect(error.description.hasPrefix("Themes/broken.theme:\(lineNumber): key '\(bad.key)': "))
            #expect(error.problem.contains(bad.problem), "\(error)")
        }

        @Test func missingRolesAreListed() throws {
            let error = try #require(throws: ThemeError.self) {
                try ThemeParser.parse("name = x\n" + themeText(omitting: ["warning", "graphMid"]), file: "a.theme")
            }
            #expect(error.line == nil && error.key == nil)
            #expect(error.description == "a.theme: missing roles: warning, graphMid (every role must be given)")
        }

        @Test func emptyFileListsEveryRole() throws {
            let error = try #require(throws: ThemeError.self) { try ThemeParser.parse("", file: "e.theme") }
            for role in ColorRole.allCases { #expect(error.problem.contains(role.rawValue)) }
        }

        @Test func missingKeyBeforeEquals() throws {
            let error = try #require(throws: ThemeError.self) { try ThemeParser.parse("= #000000", file: "k.theme") }
            #expect(error.line == 1 && error.key == nil)
            #expect(error.description == "k.theme:1: missing key before '='")
        }
    }

    // MARK: - Loader

    @Suite struct Loader {
        @Test func byNameFromADirectory() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write(themeText(["ok": "#00ff00"]), to: dir + "/green.theme")
            let theme = try ThemeLoader.load(nameOrPath: "green", searchDirectories: [dir + "/absent", dir])
            #expect(theme.name == "green" && theme[.ok] == .rgb(0, 255, 0))
        }

        @Test func userDirectoryComesBeforeRepoDirectory() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write("name = mine\n" + themeText(), to: dir + "/user/nord.theme")
            try write("name = shipped\n" + themeText(), to: dir + "/repo/nord.theme")
            let theme = try ThemeLoader.load(nameOrPath: "nord", searchDirectories: [dir + "/user", dir + "/repo"])
            #expect(theme.name == "mine")
        }

        @Test func byPath() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write(themeText(), to: dir + "/custom.theme")
            #expect(try ThemeLoader.load(nameOrPath: dir + "/custom.theme", searchDirectories: []).name == "custom")

            // Ending in ".theme" makes it a path, even without a "/".
            let error = try #require(throws: ThemeError.self) {
                try ThemeLoader.load(nameOrPath: "no-such-file.theme", searchDirectories: [dir])
            }
            #expect(error.description == "no-such-file.theme: no such file")
        }

        @Test func errorsInAFileNameItsPath() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write(themeText(["ok": "#12"]), to: dir + "/bad.theme")
            let error = try #require(throws: ThemeError.self) {
                try ThemeLoader.load(nameOrPath: "bad", searchDirectories: [dir])
            }
            #expect(error.file == dir + "/bad.theme" && error.key == "ok")
        }

        @Test func unknownNameListsAvailableThemes() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write(themeText(), to: dir + "/a/zeta.theme")
            try write(themeText(), to: dir + "/b/alpha.theme")
            try write(themeText(), to: dir + "/b/zeta.theme")
            try write("not a theme", to: dir + "/b/notes.txt")
            let directories = [dir + "/a", dir + "/b"]
            #expect(ThemeLoader.available(in: directories) == ["alpha", "zeta"])

            let error = try #require(throws: ThemeError.self) {
                try ThemeLoader.load(nameOrPath: "nrod", searchDirectories: directories)
            }
            #expect(error.file == "nrod.theme")
            #expect(error.problem.contains("(available: alpha, zeta)"), "\(error)")
        }

        @Test func defaultWithoutFilesIsTheFallback() throws {
            #expect(try ThemeLoader.load(nameOrPath: nil, searchDirectories: []) == Theme.fallback)
            #expect(try ThemeLoader.load(nameOrPath: "default", searchDirectories: ["/nonexistent"]) == Theme.fallback)
            #expect(throws: ThemeError.self) { try ThemeLoader.load(nameOrPath: "nord", searchDirectories: []) }
        }

        @Test func defaultFileIsPreferredToTheFallback() throws {
            let theme = try ThemeLoader.load(nameOrPath: nil, searchDirectories: [themesDirectory])
            #expect(theme.name == "Default")
        }

        @Test func searchDirectoriesUseXDGThenHomeThenRepo() throws {
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try write(themeText(), to: dir + "/repo/Themes/default.theme")
            try write("", to: dir + "/repo/.build/debug/wharf")
            let binary = dir + "/repo/.build/debug/wharf"
            let repoThemes = URL(fileURLWithPath: dir + "/repo/Themes").resolvingSymlinksInPath().path

            let xdg = ThemeLoader.defaultSearchDirectories(
                executablePath: binary, environment: ["XDG_CONFIG_HOME": "/cfg", "HOME": "/home/u"])
            #expect(xdg.first == "/cfg/wharf/themes")
            #expect(xdg.count == 2)
            #expect(URL(fileURLWithPath: xdg[1]).resolvingSymlinksInPath().path == repoThemes)

            // Empty or relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
            for xdgValue in ["", "relative/cfg"] {
                let home = ThemeLoader.defaultSearchDirectories(
                    executablePath: binary, environment: ["XDG_CONFIG_HOME": xdgValue, "HOME": "/home/u"])
                #expect(home.first == "/home/u/.config/wharf/themes")
            }

            // This repo, as a built binary would see it.
            let real = ThemeLoader.defaultSearchDirectories(
                executablePath: themesDirectory + "/../.build/debug/wharf", environment: [:])
            #expect(real == [themesDirectory])

            let outside = ThemeLoader.defaultSearchDirectories(executablePath: dir + "/elsewhere/wharf", environment: [:])
            #expect(outside.isEmpty)
        }
    }

    // MARK: - Colour mapping

    @Suite struct Mapping {
        @Test func noColor() {
            #expect(ColorMapping.depth(colors: 16_777_216, environment: ["NO_COLOR": ""]) == ColorDepth.none)
            #expect(ColorMapping.depth(colors: 256, environment: ["NO_COLOR": "1"]) == ColorDepth.none)
            #expect(ColorMapping.terminalColor(for: .rgb(1, 2, 3), depth: .none) == nil)
            #expect(ColorMapping.terminalColor(for: .terminalDefault, depth: .none) == nil)
            #expect(Theme.fallback.terminalColors(depth: .none).isEmpty)
        }

        @Test func depthThresholds() {
            let cases: [(Int, ColorDepth)] = [
                (16_777_216, .direct), (16_777_215, .indexed256), (256, .indexed256), (255, .ansi8),
                (16, .ansi8), (8, .ansi8), (7, ColorDepth.none), (0, ColorDepth.none), (-1, ColorDepth.none),
            ]
            for (colors, depth) in cases {
                #expect(ColorMapping.depth(colors: colors, environment: ["TERM": "xterm"]) == depth, "\(colors) colours")
            }
        }

        @Test func palette() {
            #expect(ColorMapping.xterm256.count == 256)
            #expect(channels(ofIndex: 1) == [0xcd, 0, 0])
            #expect(channels(ofIndex: 16) == [0, 0, 0])
            #expect(channels(ofIndex: 196) == [255, 0, 0])
            #expect(channels(ofIndex: 231) == [255, 255, 255])
            #expect(channels(ofIndex: 232) == [8, 8, 8])
            #expect(channels(ofIndex: 255) == [238, 238, 238])
        }

        @Test func rgbAt256Colours() {
            #expect(ColorMapping.terminalColor(for: .rgb(255, 0, 0), depth: .indexed256) == .index(196))
            #expect(ColorMapping.terminalColor(for: .rgb(0x80, 0x80, 0x80), depth: .indexed256) == .index(244))
            #expect(ColorMapping.terminalColor(for: .rgb(0x5f, 0x87, 0xaf), depth: .indexed256) == .index(67))
            // Never a system colour, even for exactly a system colour's value.
            for index in 0..<16 {
                let (r, g, b) = ColorMapping.rgb(ofIndex: UInt8(index))
                let mapped = ColorMapping.terminalColor(for: .rgb(r, g, b), depth: .indexed256)
                guard case .index(let result)? = mapped else {
                    Issue.record("\(index) -> \(String(describing: mapped))")
                    continue
                }
                #expect(result >= 16)
            }
            #expect(ColorMapping.terminalColor(for: .indexed(9), depth: .indexed256) == .index(9))
        }

        @Test func ansi8() {
            #expect(ColorMapping.terminalColor(for: .rgb(255, 255, 255), depth: .ansi8) == .index(7))
            #expect(ColorMapping.terminalColor(for: .rgb(0x28, 0x2a, 0x36), depth: .ansi8) == .index(0))
            #expect(ColorMapping.terminalColor(for: .rgb(0xfa, 0x1e, 0x1e), depth: .ansi8) == .index(1))
            #expect(ColorMapping.terminalColor(for: .indexed(3), depth: .ansi8) == .index(3))
            #expect(ColorMapping.terminalColor(for: .indexed(9), depth: .ansi8) == .index(1))
            #expect(ColorMapping.terminalColor(for: .indexed(15), depth: .ansi8) == .index(7))
            #expect(ColorMapping.terminalColor(for: .indexed(46), depth: .ansi8) == .index(2))  // #00ff00
            #expect(ColorMapping.terminalColor(for: .indexed(232), depth: .ansi8) == .index(0))
        }

        @Test func direct() {
            #expect(ColorMapping.terminalColor(for: .indexed(196), depth: .direct) == .rgb(255, 0, 0))
            #expect(ColorMapping.terminalColor(for: .rgb(1, 2, 3), depth: .direct) == .rgb(1, 2, 3))
        }

        @Test(arguments: [ColorDepth.ansi8, .indexed256, .direct])
        func terminalDefaultStays(depth: ColorDepth) {
            #expect(ColorMapping.terminalColor(for: .terminalDefault, depth: depth) == .terminalDefault)
            #expect(Theme.fallback.terminalColors(depth: depth).count == ColorRole.allCases.count)
        }
    }
}
