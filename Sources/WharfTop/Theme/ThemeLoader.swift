import Foundation

/// Finds and reads theme files.
///
/// A theme is named by a path (anything with a `/` or ending in `.theme`) or by
/// a name, looked up as `<name>.theme` in the search directories in order:
/// the user's config directory first, so a user can override a shipped theme.
public enum ThemeLoader {
    public static let defaultName = "default"
    static let fileExtension = "theme"

    /// Loads the theme named by `nameOrPath` (nil means "default").
    ///
    /// "default" never fails for want of a file: when no directory has
    /// `default.theme` (an installed binary without the repo), it is
    /// `Theme.fallback`.
    public static func load(nameOrPath: String?, searchDirectories: [String]) throws(ThemeError) -> Theme {
        let requested = nameOrPath ?? defaultName
        if requested.contains("/") || requested.hasSuffix(".\(fileExtension)") {
            return try loadFile(atPath: NSString(string: requested).expandingTildeInPath, displayPath: requested)
        }
        let fileName = "\(requested).\(fileExtension)"
        for directory in searchDirectories {
            let path = join(directory, fileName)
            if isFile(path) { return try loadFile(atPath: path, displayPath: path) }
        }
        if requested == defaultName { return Theme.fallback }

        let available = available(in: searchDirectories)
        let searched = searchDirectories.isEmpty ? "no theme directories" : searchDirectories.joined(separator: ", ")
        throw ThemeError(
            file: fileName,
            problem: "no such theme in \(searched) (available: "
                + (available.isEmpty ? "none" : available.joined(separator: ", ")) + ")")
    }

    /// Reads and parses one file. `displayPath` is what error messages show.
    public static func loadFile(atPath path: String, displayPath: String? = nil) throws(ThemeError) -> Theme {
        let shown = displayPath ?? path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var isDirectory: ObjCBool = false
            let problem =
                !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                ? "no such file"
                : isDirectory.boolValue ? "is a directory, not a theme file" : "cannot read the file"
            throw ThemeError(file: shown, problem: problem)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ThemeError(file: shown, problem: "the file is not UTF-8 text")
        }
        return try ThemeParser.parse(text, file: shown)
    }

    /// Theme names (file base names) found in `directories`, sorted, without duplicates.
    public static func available(in directories: [String]) -> [String] {
        var names = Set<String>()
        for directory in directories {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for entry in entries where entry.hasSuffix(".\(fileExtension)") && !entry.hasPrefix(".") {
                names.insert(String(entry.dropLast(fileExtension.count + 1)))
            }
        }
        return names.sorted()
    }

    /// Where to look for themes, in order:
    /// 1. `$XDG_CONFIG_HOME/wharf/themes`, else `$HOME/.config/wharf/themes`;
    /// 2. the repo's `Themes` directory: the first directory, walking up from the
    ///    executable's (e.g. `/repo/.build/debug/wharf`), that has `Themes/default.theme`.
    /// Directories that do not exist are still listed for 1 (harmless), never for 2.
    public static func defaultSearchDirectories(executablePath: String, environment: [String: String]) -> [String] {
        var directories: [String] = []
        // The XDG spec says to ignore empty and relative values.
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") {
            directories.append(join(config, "wharf/themes"))
        } else if let home = environment["HOME"], !home.isEmpty {
            directories.append(join(home, ".config/wharf/themes"))
        }
        if let repo = repoThemesDirectory(executablePath: executablePath) {
            directories.append(repo)
        }
        return directories
    }

    /// `defaultSearchDirectories` for the running process.
    public static func defaultSearchDirectories() -> [String] {
        let executable = Bundle.main.executablePath ?? CommandLine.arguments.first ?? ""
        return defaultSearchDirectories(executablePath: executable, environment: ProcessInfo.processInfo.environment)
    }

    static func repoThemesDirectory(executablePath: String) -> String? {
        guard !executablePath.isEmpty else { return nil }
        // Resolve symlinks (.build/debug is one; so is a wharf linked into ~/bin)
        // so the walk starts inside the real build tree.
        var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().standardizedFileURL
        for _ in 0..<64 {  // a bound, in case a path never reaches "/"
            let themes = directory.appendingPathComponent("Themes")
            if isFile(themes.appendingPathComponent("\(defaultName).\(fileExtension)").path) {
                return themes.path
            }
            let parent = directory.deletingLastPathComponent().standardizedFileURL
            if parent.path == directory.path { return nil }  // reached "/"
            directory = parent
        }
        return nil
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}
