import ArgumentParser
import Foundation
import WharfServer
import WharfTop

/// Options `wharf top` and `wharf demo` share: theme, refresh and thresholds.
struct DashboardOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "TOML file whose [top] section sets the defaults below (see README).")
    var configFile: String?

    @Option(help: "Seconds between refreshes (default 1).")
    var interval: Double?

    @Option(help: "Theme name (see --list-themes) or path to a .theme file.")
    var theme: String?

    @Flag(help: "List the available themes and exit.")
    var listThemes = false

    @Option(help: "Consumer lag in seconds shown as a warning (default 10).")
    var lagWarning: Double?
    @Option(help: "Consumer lag in seconds shown as critical (default 60).")
    var lagCritical: Double?
    @Option(help: "Queue depth shown as a warning (default 500).")
    var depthWarning: Double?
    @Option(help: "Queue depth shown as critical (default 900).")
    var depthCritical: Double?
    @Option(help: "p99 delivery latency in seconds shown as a warning (default 0.1).")
    var p99Warning: Double?
    @Option(help: "p99 delivery latency in seconds shown as critical (default 0.5).")
    var p99Critical: Double?

    /// Flags over the config file's `[top]` section over the defaults.
    struct Resolved {
        var interval: Double
        var theme: String?
        var thresholds: Thresholds
    }

    func resolve() throws -> Resolved {
        var file = DashboardSettings()
        if let configFile {
            do {
                file = try ConfigFileLoader.load(path: configFile).top
            } catch {
                throw ValidationError("\(error)")
            }
        }
        let interval = self.interval ?? file.interval ?? 1
        guard interval >= 0.1, interval <= 3600 else { throw ValidationError("--interval must be between 0.1 and 3600 seconds") }
        var t = Thresholds()
        t.lagSeconds = .init(
            warning: lagWarning ?? file.lagWarning ?? t.lagSeconds.warning,
            critical: lagCritical ?? file.lagCritical ?? t.lagSeconds.critical)
        t.depth = .init(
            warning: depthWarning ?? file.depthWarning ?? t.depth.warning, critical: depthCritical ?? file.depthCritical ?? t.depth.critical
        )
        t.p99 = .init(warning: p99Warning ?? file.p99Warning ?? t.p99.warning, critical: p99Critical ?? file.p99Critical ?? t.p99.critical)
        for (name, pair) in [("lag", t.lagSeconds), ("depth", t.depth), ("p99", t.p99)] where pair.critical < pair.warning {
            throw ValidationError("the \(name) warning threshold (\(pair.warning)) is above its critical one (\(pair.critical))")
        }
        return Resolved(interval: interval, theme: theme ?? file.theme, thresholds: t)
    }

    /// The theme, or a clear error naming the file, line and key.
    func loadTheme(_ name: String?) throws -> Theme {
        do {
            return try ThemeLoader.load(nameOrPath: name, searchDirectories: ThemeLoader.defaultSearchDirectories())
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Prints the themes and returns true when --list-themes was given.
    func listedThemes() -> Bool {
        guard listThemes else { return false }
        let directories = ThemeLoader.defaultSearchDirectories()
        print(ThemeLoader.available(in: directories).joined(separator: "\n"))
        print("(searched: \(directories.joined(separator: ", ")))")
        return true
    }

    /// The terminal must be a terminal: curses on a pipe would hang or garble.
    static func requireTerminal() throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw ValidationError("needs an interactive terminal (stdin and stdout must be a tty)")
        }
    }
}
