import NIOCore

/// `[metrics]`: the HTTP listener, `$SYS` and per-topic series.
extension ConfigKeys {
    public enum Metrics {
        /// Where the listener's limits come from when the file leaves them out.
        static let listenerDefaults = "WharfExporter's MetricsServer.Limits"

        public static let enabled = ConfigKey<ServerConfig>.bool(
            "metrics", "enabled", default: .value(true), doc: "the HTTP listener for /metrics and /api/v1/snapshot",
            flag: .off("no-metrics", "Do not start the metrics HTTP listener")
        ) { $0.metricsEnabled = $1 }
        public static let bind = ConfigKey<ServerConfig>.string(
            "metrics", "bind", default: .value("127.0.0.1"), doc: "address the HTTP listener listens on"
        ) { $0.metricsBind = $1 }
        public static let port = ConfigKey<ServerConfig>.int(
            "metrics", "port", 0...65535, default: .value(18883),
            doc: "outside 9100-9999, which Prometheus's port registry has fully allocated",
            flag: .option("metrics-port", "HTTP port for /metrics and /api/v1/snapshot", note: "0 picks a free port")
        ) { $0.metricsPort = $1 }
        public static let sysInterval = ConfigKey<ServerConfig>.int(
            "metrics", "sys_interval", 0...86_400, default: .value(10), doc: "seconds between $SYS/broker/... updates; 0 turns them off",
            flag: .option("sys-interval", "Seconds between $SYS/broker/... updates", note: "0 turns them off")
        ) { $0.sysInterval = $1 }
        public static let topicSeriesLimit = ConfigKey<ServerConfig>.int(
            "metrics", "topic_series_limit", 0...10_000, default: .value(100),
            doc: "topics with their own wharf_topic_* series; the rest are folded into one"
        ) { $0.topicSeriesLimit = $1 }
        public static let topicPrefixes = ConfigKey<ServerConfig>.strings(
            "metrics", "topic_prefixes", default: .value([]), doc: "e.g. [\"orders/\", \"sensors/\"]: always counted per prefix",
            problem: { prefix in
                prefix.isEmpty || prefix.contains("+") || prefix.contains("#")
                    ? "prefixes are plain topic beginnings, without wildcards; got \"\(prefix)\"" : nil
            }
        ) { $0.topicPrefixes = $1 }
        public static let maxConnections = ConfigKey<ServerConfig>.int(
            "metrics", "max_connections", 1...10_000, default: .appliedBy(listenerDefaults, 64),
            doc: "HTTP connections; past it the least recently active one is closed"
        ) { $0.metricsLimits.maxConnections = $1 }
        public static let requestTimeout = ConfigKey<ServerConfig>.number(
            "metrics", "request_timeout", 0.1...3_600, default: .appliedBy(listenerDefaults, 10),
            doc: "seconds a request may take to arrive in full; then 408 and close"
        ) { $0.metricsLimits.requestReadTimeout = .milliseconds(Int64($1 * 1000)) }
        public static let idleTimeout = ConfigKey<ServerConfig>.number(
            "metrics", "idle_timeout", 1...86_400, default: .appliedBy(listenerDefaults, 60),
            doc: "seconds a connection may wait between requests"
        ) { $0.metricsLimits.idleTimeout = .milliseconds(Int64($1 * 1000)) }
        public static let maxRequestBodyBytes = ConfigKey<ServerConfig>.int(
            "metrics", "max_request_body_bytes", 0...(64 << 20), default: .appliedBy(listenerDefaults, 65536),
            doc: "larger (or chunked) bodies get 413 and close"
        ) { $0.metricsLimits.maxRequestBodyBytes = $1 }
        public static let maxHeaderBytes = ConfigKey<ServerConfig>.int(
            "metrics", "max_header_bytes", 1_024...(1 << 20), default: .appliedBy(listenerDefaults, 16384),
            doc: "a larger request head gets 431 and close"
        ) { $0.metricsLimits.maxHeaderBytes = $1 }

        public static let tlsCert = ConfigKey<ServerConfig>.path(
            "metrics", "tls_cert", default: .unset(example: "metrics.crt"),
            doc: "PEM certificate chain; the listener speaks HTTPS (TLS 1.2/1.3) when set; re-read on SIGHUP"
        ) { $0.metricsSecurity.tlsCert = $1 }
        public static let tlsKey = ConfigKey<ServerConfig>.path(
            "metrics", "tls_key", default: .unset(example: "metrics.key"),
            doc: "PEM private key; refused if anyone else may read it (chmod 600 or 640)"
        ) { $0.metricsSecurity.tlsKey = $1 }
        public static let tokenFile = ConfigKey<ServerConfig>.path(
            "metrics", "token_file", default: .unset(example: "metrics.token"),
            doc: "requests need Authorization: Bearer <the file's content, trimmed>; chmod 600; re-read on SIGHUP"
        ) { $0.metricsSecurity.tokenFile = $1 }
        public static let passwordFile = ConfigKey<ServerConfig>.path(
            "metrics", "password_file", default: .unset(example: "metrics.passwd"),
            doc: "or HTTP basic auth against a Mosquitto-format password file (not both); re-read on SIGHUP"
        ) { $0.metricsSecurity.passwordFile = $1 }
        public static let openHealthChecks = ConfigKey<ServerConfig>.bool(
            "metrics", "open_health_checks", default: .value(true),
            doc: "/healthz and /readyz answer without credentials (load balancers, scripts); false: they need them too"
        ) { $0.metricsSecurity.openHealthChecks = $1 }

        static let section = ConfigSection(
            "metrics",
            [
                enabled, bind, port, sysInterval, topicSeriesLimit, topicPrefixes,
                maxConnections, requestTimeout, idleTimeout, maxRequestBodyBytes, maxHeaderBytes,
                tlsCert, tlsKey, tokenFile, passwordFile, openHealthChecks,
            ])
    }
}
