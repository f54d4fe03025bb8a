import Logging
import Testing
import WharfCore
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
        let config = try ConfigFileLoader.parse(
            """
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

    /// The hostile-input limits: pending sockets and the metrics listener's bounds.
    @Test func readsConnectionAndHTTPLimits() throws {
        let config = try ConfigFileLoader.parse(
            """
            [limits]
            max_pending_connections = 20
            max_filters_per_subscribe = 50
            max_subscriptions_per_client = 0
            [metrics]
            max_connections = 8
            request_timeout = 1.5
            idle_timeout = 30
            max_request_body_bytes = 1024
            max_header_bytes = 4096
            """, file: "wharf.toml")
        #expect(config.maxPendingConnections == 20)
        #expect(config.limits.maxFiltersPerSubscribe == 50 && config.limits.maxSubscriptionsPerClient == 0)
        #expect(error("[limits]\nmax_filters_per_subscribe = -1").contains("limits.max_filters_per_subscribe"))
        #expect(config.metricsLimits.maxConnections == 8)
        #expect(config.metricsLimits.requestReadTimeout == .milliseconds(1500))
        #expect(config.metricsLimits.idleTimeout == .seconds(30))
        #expect(config.metricsLimits.maxRequestBodyBytes == 1024 && config.metricsLimits.maxHeaderBytes == 4096)
        #expect(error("[limits]\nmax_pending_connections = 0").contains("limits.max_pending_connections"))
        #expect(error("[metrics]\nrequest_timeout = \"soon\"").contains("metrics.request_timeout"))
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
        #expect(
            error("[limits]\nmax_connections = \"many\"") == "/etc/wharf.toml: key 'limits.max_connections': must be an integer, got string"
        )
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

    /// The dashboard's [top] section and [[policy]] tables are read, and their
    /// mistakes named by key like every other.
    @Test func topSectionAndPolicies() throws {
        let config = try ConfigFileLoader.parse(
            """
            [top]
            theme = "nord"
            interval = 2
            lag_warning = 5
            p99_critical = 0.25

            [[policy]]
            pattern = "orders/#"
            message_ttl = 60
            max_length = 100
            overflow = "reject-new"

            [[policy]]
            pattern = "jobs/+"
            max_delivery_attempts = 3
            """, file: "wharf.toml")
        #expect(config.top.theme == "nord" && config.top.interval == 2 && config.top.lagWarning == 5 && config.top.p99Critical == 0.25)
        #expect(config.top.depthWarning == nil, "unset: the dashboard's default applies")
        #expect(
            config.policies == [
                DeliveryPolicy(pattern: "orders/#", messageTTL: 60, maxLength: 100, overflow: .rejectNew),
                DeliveryPolicy(pattern: "jobs/+", maxDeliveryAttempts: 3),
            ])
        #expect(error("[top]\ninterval = 0") == "/etc/wharf.toml: key 'top.interval': must be between 0.1 and 3600.0, got 0.0")
        #expect(error("[top]\nlag_warning = \"soon\"") == "/etc/wharf.toml: key 'top.lag_warning': must be a number, got string")
        #expect(error("[[policy]]\npattern = \"a\"\noverflow = \"drop-newest\"\nmax_length = 3").contains("key 'policy[1].overflow'"))
    }

    /// `[storage] enabled = false` wins wherever it stands; any other storage key turns the store on.
    @Test func storageSection() throws {
        #expect(
            try ConfigFileLoader.parse("[storage]\nenabled = false\ndata_dir = \"d\"", file: "w.toml", over: .serveDefaults).storage == nil)
        let config = try ConfigFileLoader.parse("[storage]\nquota = \"1GiB\"\nfsync = \"every 5ms\"", file: "w.toml")
        #expect(config.storage?.quotaBytes == 1 << 30 && config.storage?.fsync == .every(milliseconds: 5))
        #expect(
            error("[storage]\nsegment_size = \"1KiB\"").hasSuffix(
                "key 'storage.segment_size': must be a size of at least 64KiB (like \"64MiB\"); got \"1KiB\""))
    }

    /// The backoff's maximum may not be below its minimum.
    @Test func deliveryBackoffOrder() {
        #expect(
            error("[delivery]\nretry_backoff_min = 5\nretry_backoff_max = 2")
                == "/etc/wharf.toml: key 'delivery.retry_backoff_max': must be at least retry_backoff_min (5.0); got 2.0")
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
