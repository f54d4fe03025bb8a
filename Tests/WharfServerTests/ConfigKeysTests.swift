import Foundation
import Testing
import WharfCore
import WharfServer

/// The declarations in `ConfigKeys` against what they describe: the real
/// defaults, the sections, and `wharf serve`'s flags.
@Suite struct ConfigKeysTests {
    static let serverKeys = ConfigKeys.sections.flatMap(\.keys) + ConfigKeys.Listener.flags

    /// A declared default is what `wharf serve` starts with: applying it changes nothing.
    @Test func declaredDefaultsAreTheRealOnes() throws {
        for key in Self.serverKeys {
            var config = ServerConfig.serveDefaults
            try key.apply(key.defaultValue.documented, to: &config)
            if case .value(let value) = key.defaultValue {
                #expect(config == .serveDefaults, "\(key.path) declares its default as \(value), but wharf serve starts with another")
            } else {
                #expect(
                    config != .serveDefaults,
                    "\(key.path) is declared unset by default, but ServerConfig holds \(key.defaultValue.documented)")
            }
        }
        for key in ConfigKeys.policy {
            let base = DeliveryPolicy(pattern: "any/#")
            var policy = base
            try key.apply(key.defaultValue.documented, to: &policy)
            if case .value(let value) = key.defaultValue {
                #expect(policy == base, "\(key.path) declares its default as \(value), but DeliveryPolicy starts with another")
            } else {
                #expect(policy != base, "\(key.path) is declared unset by default, but DeliveryPolicy holds \(key.defaultValue.documented)")
            }
        }
    }

    /// Each key sits in the section named like its own, once; flags are not shared.
    @Test func sectionsAndFlagsAreConsistent() {
        for section in ConfigKeys.sections {
            for key in section.keys {
                #expect(key.section == section.name, "\(key.path) is listed in [\(section.name)]")
            }
        }
        #expect(ConfigKeys.policy.allSatisfy { $0.section == ConfigKeys.policySection })
        let paths = Self.serverKeys.map(\.path) + ConfigKeys.policy.map(\.path)
        #expect(Set(paths).count == paths.count, "a key is declared twice")
        let flags = Self.serverKeys.compactMap(\.flag?.name)
        #expect(Set(flags).count == flags.count, "a flag is declared for two keys")
        #expect(ConfigKeys.Limits.maxConnections.flag?.name == "max-connections")
    }

    /// Help texts add the declared default, or the example for a key unset by default.
    @Test func helpSaysTheDefault() {
        #expect(ConfigKeys.Listener.firstPort.help == "MQTT port of the first listener (default 1883; 0 picks a free port).")
        #expect(ConfigKeys.Log.level.help == "trace, debug, info, notice, warning, error or critical (default info).")
        #expect(ConfigKeys.Storage.quota.help == "Refuse new messages past this much on disk (like 10GiB).")
        #expect(ConfigKeys.Storage.enabled.help == "Keep everything in memory: nothing survives a restart.")
    }

    /// A flag's value is checked by the same declaration as the file's, and its error names the flag.
    @Test func flagsApplyThroughTheDeclaration() throws {
        var config = ServerConfig.serveDefaults
        try ConfigKeys.Limits.maxConnections.applyFlag(.int(7), to: &config)
        #expect(config.limits.maxConnections == 7)
        try ConfigKeys.Storage.enabled.applyFlag(.bool(false), to: &config)
        #expect(config.storage == nil)
        try ConfigKeys.Storage.fsync.applyFlag(.string("every 50ms"), to: &config)
        #expect(config.storage?.fsync == .every(milliseconds: 50), "a storage flag turns the store back on, as it did")
        let port = #expect(throws: ConfigFlagError.self) { try ConfigKeys.Listener.firstPort.applyFlag(.int(70000), to: &config) }
        #expect(port?.description == "--port must be between 0 and 65535, got 70000")
        let quota = #expect(throws: ConfigFlagError.self) { try ConfigKeys.Storage.quota.applyFlag(.string("lots"), to: &config) }
        #expect(quota?.description == "--storage-quota must be a size (like \"10GiB\"); got \"lots\"")
    }

    /// Every declared flag is one `wharf serve --help` lists, with the declared help text.
    @Test func serveHelpListsEveryFlag() throws {
        let help = try Self.serveHelp()
        let flat = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for key in Self.serverKeys {
            guard let flag = key.flag else { continue }
            if !flat.contains("--\(flag.name) ") {
                Issue.record("wharf serve --help has no --\(flag.name), the flag declared for \(key.path):\n\(help)")
            } else if !flat.contains(key.help.split(whereSeparator: \.isWhitespace).joined(separator: " ")) {
                Issue.record("wharf serve --help does not say \"\(key.help)\" for --\(flag.name):\n\(help)")
            }
        }
    }

    /// `wharf serve --help` from the `wharf` built beside these tests.
    static func serveHelp() throws -> String {
        let wharf = productsDirectory().appendingPathComponent("wharf")
        try #require(
            FileManager.default.isExecutableFile(atPath: wharf.path),
            "no wharf executable at \(wharf.path): build with `swift build --build-tests` before `swift test --skip-build`"
        )
        let process = Process()
        process.executableURL = wharf
        process.arguments = ["serve", "--help"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    /// Where SwiftPM put the test bundle, and so the executables.
    static func productsDirectory() -> URL {
        #if os(macOS)
            if let bundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
                return bundle.bundleURL.deletingLastPathComponent()
            }
        #endif
        return Bundle.main.bundleURL
    }
}
