import Foundation
import Logging
import TOMLKit
import WharfCore
import WharfMQTT

/// Reads a TOML configuration file over the defaults. Unknown keys are errors,
/// not silently ignored: a typo in a limit must not leave the default in force.
public enum ConfigFileLoader {
    public static func load(path: String, over base: ServerConfig = ServerConfig()) throws(ConfigFileError) -> ServerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigFileError(file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(text, file: path, over: base)
    }

    public static func parse(_ text: String, file: String, over base: ServerConfig = ServerConfig()) throws(ConfigFileError) -> ServerConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigFileError(file: file, line: error.source.begin.line, problem: "not valid TOML: \(error.description)")
        } catch {
            throw ConfigFileError(file: file, problem: "not valid TOML: \(error)")
        }
        var config = base
        let reader = Reader(file: file)
        try reader.sections(root, allowed: ["listener", "limits", "log", "auth", "metrics", "top", "policy", "delivery", "storage"])
        config.policies = try reader.policies(root)
        if let listener = try reader.section(root, "listener", allowed: ["bind", "port"]) {
            if let bind = try reader.string(listener, "listener.bind") { config.bind = bind }
            if let port = try reader.int(listener, "listener.port", in: 0...65535) { config.port = port }
        }
        if let limits = try reader.section(
            root, "limits",
            allowed: [
                "max_connections", "max_packet_size", "max_inflight_messages", "max_queued_messages", "max_topic_levels",
                "connect_timeout", "receive_maximum", "topic_alias_maximum", "max_keepalive", "max_pending_connections",
                "max_filters_per_subscribe", "max_subscriptions_per_client",
            ]
        ) {
            if let value = try reader.int(limits, "limits.receive_maximum", in: 1...65_535) { config.limits.receiveMaximum = value }
            if let value = try reader.int(limits, "limits.topic_alias_maximum", in: 0...65_535) { config.limits.topicAliasMaximum = value }
            if let value = try reader.int(limits, "limits.max_keepalive", in: 0...65_535) { config.limits.maxKeepAlive = value }
            if let value = try reader.int(limits, "limits.max_connections", in: 1...1_000_000) { config.limits.maxConnections = value }
            if let value = try reader.int(limits, "limits.max_packet_size", in: 16...268_435_460) { config.limits.maxPacketSize = value }
            if let value = try reader.int(limits, "limits.max_inflight_messages", in: 1...65_000) { config.limits.maxInflightMessages = value }
            if let value = try reader.int(limits, "limits.max_queued_messages", in: 0...10_000_000) { config.limits.maxQueuedMessages = value }
            if let value = try reader.int(limits, "limits.max_topic_levels", in: 1...1024) { config.limits.maxTopicLevels = value }
            if let value = try reader.int(limits, "limits.connect_timeout", in: 1...3600) { config.connectTimeoutSeconds = value }
            if let value = try reader.int(limits, "limits.max_pending_connections", in: 1...1_000_000) { config.maxPendingConnections = value }
            if let value = try reader.int(limits, "limits.max_filters_per_subscribe", in: 0...1_000_000) { config.limits.maxFiltersPerSubscribe = value }
            if let value = try reader.int(limits, "limits.max_subscriptions_per_client", in: 0...10_000_000) {
                config.limits.maxSubscriptionsPerClient = value
            }
        }
        if let delivery = try reader.section(root, "delivery", allowed: ["retry_backoff_min", "retry_backoff_max", "dedup_window"]) {
            if let value = try reader.number(delivery, "delivery.retry_backoff_min", in: 0...86_400) { config.delivery.retryBackoffMinimum = value }
            if let value = try reader.number(delivery, "delivery.retry_backoff_max", in: 0...86_400) { config.delivery.retryBackoffMaximum = value }
            if config.delivery.retryBackoffMaximum < config.delivery.retryBackoffMinimum {
                throw ConfigFileError(
                    file: file, key: "delivery.retry_backoff_max",
                    problem: "must be at least retry_backoff_min (\(config.delivery.retryBackoffMinimum)); got \(config.delivery.retryBackoffMaximum)"
                )
            }
            if let value = try reader.number(delivery, "delivery.dedup_window", in: 0...604_800) { config.delivery.dedupWindow = value }
        }
        if let storage = try reader.section(root, "storage", allowed: ["enabled", "data_dir", "fsync", "segment_size", "quota"]) {
            var options = config.storage ?? LocalLogOptions()
            if let dir = try reader.string(storage, "storage.data_dir") {
                guard !dir.isEmpty else { throw ConfigFileError(file: file, key: "storage.data_dir", problem: "must not be empty") }
                options.directory = dir
            }
            if let text = try reader.string(storage, "storage.fsync") {
                guard let policy = LocalLogOptions.FsyncPolicy(parsing: text) else {
                    throw ConfigFileError(file: file, key: "storage.fsync", problem: "must be \"always\", \"never\" or \"every <ms>ms\"; got \"\(text)\"")
                }
                options.fsync = policy
            }
            if let text = try reader.string(storage, "storage.segment_size") {
                guard let bytes = LocalLogOptions.parseSize(text), bytes >= 64 << 10 else {
                    throw ConfigFileError(file: file, key: "storage.segment_size", problem: "must be a size of at least 64KiB (like \"64MiB\"); got \"\(text)\"")
                }
                options.segmentBytes = bytes
            }
            if let text = try reader.string(storage, "storage.quota") {
                guard let bytes = LocalLogOptions.parseSize(text) else {
                    throw ConfigFileError(file: file, key: "storage.quota", problem: "must be a size (like \"10GiB\"); got \"\(text)\"")
                }
                options.quotaBytes = bytes
            }
            config.storage = options
            if let enabled = try reader.bool(storage, "storage.enabled"), !enabled { config.storage = nil }
        }
        if let auth = try reader.section(root, "auth", allowed: ["allow_anonymous", "password_file"]) {
            if let allow = try reader.bool(auth, "auth.allow_anonymous") { config.allowAnonymous = allow }
            if let path = try reader.string(auth, "auth.password_file") {
                // Relative to the config file, so a config and its password file move together.
                config.passwordFile = path.hasPrefix("/")
                    ? path
                    : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path
            }
        }
        if let metrics = try reader.section(
            root, "metrics",
            allowed: [
                "enabled", "bind", "port", "sys_interval", "topic_series_limit", "topic_prefixes", "max_connections", "request_timeout",
                "idle_timeout", "max_request_body_bytes", "max_header_bytes",
            ]
        ) {
            if let enabled = try reader.bool(metrics, "metrics.enabled") { config.metricsEnabled = enabled }
            if let bind = try reader.string(metrics, "metrics.bind") { config.metricsBind = bind }
            if let port = try reader.int(metrics, "metrics.port", in: 0...65535) { config.metricsPort = port }
            if let interval = try reader.int(metrics, "metrics.sys_interval", in: 0...86_400) { config.sysInterval = interval }
            if let limit = try reader.int(metrics, "metrics.topic_series_limit", in: 0...10_000) { config.topicSeriesLimit = limit }
            if let value = try reader.int(metrics, "metrics.max_connections", in: 1...10_000) { config.metricsLimits.maxConnections = value }
            if let value = try reader.number(metrics, "metrics.request_timeout", in: 0.1...3_600) {
                config.metricsLimits.requestReadTimeout = .milliseconds(Int64(value * 1000))
            }
            if let value = try reader.number(metrics, "metrics.idle_timeout", in: 1...86_400) {
                config.metricsLimits.idleTimeout = .milliseconds(Int64(value * 1000))
            }
            if let value = try reader.int(metrics, "metrics.max_request_body_bytes", in: 0...(64 << 20)) {
                config.metricsLimits.maxRequestBodyBytes = value
            }
            if let value = try reader.int(metrics, "metrics.max_header_bytes", in: 1_024...(1 << 20)) { config.metricsLimits.maxHeaderBytes = value }
            if let prefixes = try reader.strings(metrics, "metrics.topic_prefixes") {
                if let bad = prefixes.first(where: { $0.isEmpty || $0.contains("+") || $0.contains("#") }) {
                    throw ConfigFileError(file: file, key: "metrics.topic_prefixes", problem: "prefixes are plain topic beginnings, without wildcards; got \"\(bad)\"")
                }
                config.topicPrefixes = prefixes
            }
        }
        if let top = try reader.section(
            root, "top",
            allowed: ["theme", "interval", "lag_warning", "lag_critical", "depth_warning", "depth_critical", "p99_warning", "p99_critical"]
        ) {
            config.top.theme = try reader.string(top, "top.theme")
            config.top.interval = try reader.number(top, "top.interval", in: 0.1...3600)
            config.top.lagWarning = try reader.number(top, "top.lag_warning", in: 0...1e9)
            config.top.lagCritical = try reader.number(top, "top.lag_critical", in: 0...1e9)
            config.top.depthWarning = try reader.number(top, "top.depth_warning", in: 0...1e12)
            config.top.depthCritical = try reader.number(top, "top.depth_critical", in: 0...1e12)
            config.top.p99Warning = try reader.number(top, "top.p99_warning", in: 0...1e6)
            config.top.p99Critical = try reader.number(top, "top.p99_critical", in: 0...1e6)
        }
        if let log = try reader.section(root, "log", allowed: ["level"]) {
            if let level = try reader.string(log, "log.level") {
                guard let parsed = Logger.Level(rawValue: level) else {
                    throw ConfigFileError(
                        file: file, key: "log.level",
                        problem: "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(level)\""
                    )
                }
                config.logLevel = parsed
            }
        }
        return config
    }

    /// Typed access that names the key in every error.
    private struct Reader {
        let file: String

        func sections(_ root: TOMLTable, allowed: Set<String>) throws(ConfigFileError) {
            for key in root.keys where !allowed.contains(key) {
                throw ConfigFileError(file: file, key: key, problem: "unknown section (known: \(allowed.sorted().joined(separator: ", ")))")
            }
        }

        func section(_ root: TOMLTable, _ name: String, allowed: Set<String>) throws(ConfigFileError) -> TOMLTable? {
            guard let value = root[name] else { return nil }
            guard let table = value.table else {
                throw ConfigFileError(file: file, key: name, problem: "must be a table ([\(name)])")
            }
            for key in table.keys where !allowed.contains(key) {
                throw ConfigFileError(
                    file: file, key: "\(name).\(key)",
                    problem: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))"
                )
            }
            return table
        }

        func string(_ table: TOMLTable, _ key: String) throws(ConfigFileError) -> String? {
            guard let value = table[String(key.split(separator: ".").last!)] else { return nil }
            guard let string = value.string else {
                throw ConfigFileError(file: file, key: key, problem: "must be a string, got \(value.type)")
            }
            return string
        }

        func strings(_ table: TOMLTable, _ key: String) throws(ConfigFileError) -> [String]? {
            guard let value = table[String(key.split(separator: ".").last!)] else { return nil }
            guard let array = value.array else {
                throw ConfigFileError(file: file, key: key, problem: "must be an array of strings, got \(value.type)")
            }
            var result: [String] = []
            for element in array {
                guard let string = element.string else {
                    throw ConfigFileError(file: file, key: key, problem: "must be an array of strings, got an element of type \(element.type)")
                }
                result.append(string)
            }
            return result
        }

        /// `[[policy]]` tables, in file order (the first match wins).
        func policies(_ root: TOMLTable) throws(ConfigFileError) -> [DeliveryPolicy] {
            guard let value = root["policy"] else { return [] }
            guard let array = value.array else {
                throw ConfigFileError(file: file, key: "policy", problem: "must be an array of tables: write each as [[policy]]")
            }
            var policies: [DeliveryPolicy] = []
            for (index, element) in array.enumerated() {
                let name = "policy[\(index + 1)]"
                guard let table = element.table else {
                    throw ConfigFileError(file: file, key: name, problem: "must be a table ([[policy]])")
                }
                let allowed: Set<String> = ["pattern", "message_ttl", "max_delivery_attempts", "max_length", "overflow"]
                for key in table.keys where !allowed.contains(key) {
                    throw ConfigFileError(file: file, key: "\(name).\(key)", problem: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
                }
                guard let pattern = try string(table, "\(name).pattern") else {
                    throw ConfigFileError(file: file, key: "\(name).pattern", problem: "is required: the topic filter the policy applies to")
                }
                guard TopicRules.isValidTopicFilter(pattern), !pattern.hasPrefix("$share/") else {
                    throw ConfigFileError(file: file, key: "\(name).pattern", problem: "\"\(pattern)\" is not a valid topic filter")
                }
                let ttl = try number(table, "\(name).message_ttl", in: 0.001...31_536_000)
                let attempts = try int(table, "\(name).max_delivery_attempts", in: 1...1000)
                let maxLength = try int(table, "\(name).max_length", in: 1...100_000_000)
                var overflow = DeliveryPolicy.Overflow.dropOldest
                if let text = try string(table, "\(name).overflow") {
                    guard let parsed = DeliveryPolicy.Overflow(rawValue: text) else {
                        throw ConfigFileError(file: file, key: "\(name).overflow", problem: "must be drop-oldest or reject-new, got \"\(text)\"")
                    }
                    overflow = parsed
                }
                guard ttl != nil || attempts != nil || maxLength != nil else {
                    throw ConfigFileError(file: file, key: name, problem: "sets nothing: give message_ttl, max_delivery_attempts and/or max_length")
                }
                policies.append(DeliveryPolicy(
                    pattern: pattern, messageTTL: ttl, maxDeliveryAttempts: attempts, maxLength: maxLength, overflow: overflow
                ))
            }
            return policies
        }

        /// An integer or a float.
        func number(_ table: TOMLTable, _ key: String, in range: ClosedRange<Double>) throws(ConfigFileError) -> Double? {
            guard let value = table[String(key.split(separator: ".").last!)] else { return nil }
            guard let number = value.double ?? value.int.map(Double.init) else {
                throw ConfigFileError(file: file, key: key, problem: "must be a number, got \(value.type)")
            }
            guard range.contains(number) else {
                throw ConfigFileError(file: file, key: key, problem: "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
            }
            return number
        }

        func bool(_ table: TOMLTable, _ key: String) throws(ConfigFileError) -> Bool? {
            guard let value = table[String(key.split(separator: ".").last!)] else { return nil }
            guard let bool = value.bool else {
                throw ConfigFileError(file: file, key: key, problem: "must be true or false, got \(value.type)")
            }
            return bool
        }

        func int(_ table: TOMLTable, _ key: String, in range: ClosedRange<Int>) throws(ConfigFileError) -> Int? {
            guard let value = table[String(key.split(separator: ".").last!)] else { return nil }
            guard let int = value.int else {
                throw ConfigFileError(file: file, key: key, problem: "must be an integer, got \(value.type)")
            }
            guard range.contains(int) else {
                throw ConfigFileError(file: file, key: key, problem: "must be between \(range.lowerBound) and \(range.upperBound), got \(int)")
            }
            return int
        }
    }
}
