import Logging
import Testing
import WharfServer

@Suite struct ConfigFileLoaderTests {
    /// An empty file leaves every default in place.
    @Test func emptyFileKeepsDefaults() throws {
        let config = try ConfigFileLoader.parse("", file: "wharf.toml")
        #expect(config == ServerConfig())
        #expect(config.port == 1883 && config.bind == "127.0.0.1")
    }

    /// Every documented key is read.
    @Test func readsEveryKey() throws {
        let config = try ConfigFileLoader.parse("""
            [listener]
            bind = "0.0.0.0"
            port = 2883
            [limits]
            max_connections = 50
            max_packet_size = 4096
            max_inflight_messages = 7
            max_queued_messages = 99
            connect_timeout = 3
            [log]
            level = "debug"
            """, file: "wharf.toml")
        #expect(config.bind == "0.0.0.0" && config.port == 2883)
        #expect(config.limits.maxConnections == 50 && config.limits.maxPacketSize == 4096)
        #expect(config.limits.maxInflightMessages == 7 && config.limits.maxQueuedMessages == 99)
        #expect(config.connectTimeoutSeconds == 3 && config.logLevel == .debug)
    }

    private func error(_ text: String) -> String {
        do {
            _ = try ConfigFileLoader.parse(text, file: "/etc/wharf.toml")
            return "no error"
        } catch {
            return error.description
        }
    }

    /// A wrong type names the file, the key and what was expected.
    @Test func wrongTypeNamesFileAndKey() {
        #expect(error("[limits]\nmax_connections = \"many\"") == "/etc/wharf.toml: key 'limits.max_connections': must be an integer, got string")
    }

    /// Out-of-range values say the allowed range.
    @Test func outOfRange() {
        #expect(error("[listener]\nport = 70000") == "/etc/wharf.toml: key 'listener.port': must be between 0 and 65535, got 70000")
    }

    /// A typo is an error, not a silently ignored key.
    @Test func unknownKeysAndSections() {
        #expect(error("[limits]\nmax_conections = 5").hasPrefix("/etc/wharf.toml: key 'limits.max_conections': unknown key"))
        #expect(error("[listner]\nport = 5").hasPrefix("/etc/wharf.toml: key 'listner': unknown section"))
    }

    /// Broken TOML reports the line.
    @Test func invalidTOMLNamesLine() {
        let message = error("[listener]\nport = 1883\nbind = \n")
        #expect(message.hasPrefix("/etc/wharf.toml:3: not valid TOML"), "\(message)")
    }

    /// Log levels are checked against swift-log's names.
    @Test func badLogLevel() {
        #expect(error("[log]\nlevel = \"loud\"").contains("key 'log.level': must be one of trace, debug, info"))
    }

    /// A missing file is reported with its path.
    @Test func missingFile() {
        #expect(throws: ConfigFileError.self) { try ConfigFileLoader.load(path: "/nonexistent/wharf.toml") }
    }
}
