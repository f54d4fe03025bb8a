import Logging
import NIOCore
import WharfCore

/// Everything `wharf serve` can be told, with its defaults. `ConfigKeys`
/// declares the file's keys and flags that set it (a test holds their
/// declared defaults to these, and the README's configuration block to them).
public struct ServerConfig: Sendable, Equatable {
    /// `[[listener]]`: at least one. The first is the one `[listener]`,
    /// `--bind` and `--port` set; loopback by default: exposing a broker is a choice.
    public var listeners = [ListenerConfig()]
    /// The first listener's address.
    public var bind: String {
        get { listeners[0].bind }
        set { listeners[0].bind = newValue }
    }
    /// The first listener's port.
    public var port: Int {
        get { listeners[0].port }
        set { listeners[0].port = newValue }
    }
    public var limits = BrokerLimits()
    /// Per source address and per client rates (all off by default).
    public var clientLimits = ClientLimits()
    /// Seconds a new connection may take to send CONNECT.
    public var connectTimeoutSeconds = 10
    /// Sockets that have not sent CONNECT yet; at the limit a new socket
    /// closes the oldest of them. Counted apart from `limits.maxConnections`,
    /// so silent sockets cannot fill it (see `ConnectionLimiter`).
    public var maxPendingConnections = Self.defaultMaxPendingConnections
    public static let defaultMaxPendingConnections = 1_000
    public var logLevel: Logger.Level = .info
    /// The HTTP metrics listener (/metrics, /api/v1/snapshot, /healthz, /readyz).
    /// 18883: Prometheus's exporter port range 9100-9999 is fully allocated,
    /// so any default in it may clash; this one sits beside MQTT's 1883.
    public var metricsEnabled = true
    /// False switches the metrics model off altogether (no counters, latency
    /// or per-topic figures; no listener, no `$SYS`). For measuring its cost.
    public var metricsRecording = true
    public var metricsBind = "127.0.0.1"
    public var metricsPort = 18883
    /// `[metrics]` max_connections, request_timeout, idle_timeout,
    /// max_request_body_bytes, max_header_bytes: what any HTTP client can hold.
    public var metricsLimits = MetricsListenerLimits()
    /// `[metrics]` tls_cert, tls_key, token_file, password_file,
    /// open_health_checks: TLS and credentials for the HTTP listener.
    public var metricsSecurity = MetricsSecuritySettings()
    /// Seconds between `$SYS/broker/...` updates; 0 turns them off.
    public var sysInterval = 10
    /// Topics given their own per-topic series; the rest are folded into one.
    public var topicSeriesLimit = 100
    /// Topic prefixes always counted in `wharf_topic_prefix_*`.
    public var topicPrefixes: [String] = []
    /// Refuse clients without a user name (CONNACK 5).
    public var allowAnonymous = true
    /// Mosquitto-format password file; when set, user names must match it (else CONNACK 4).
    public var passwordFile: String?
    /// Mosquitto-format ACL file; when set, publish, subscribe and receive are checked against it.
    public var aclFile: String?

    /// `[delivery]`: retry backoff after a negative acknowledgement, and the
    /// publisher de-duplication window.
    public var delivery = DeliverySettings()
    /// `[[policy]]`: TTL and delivery-attempt limits by topic pattern.
    public var policies: [DeliveryPolicy] = []
    /// `[storage]`: the durable store; nil keeps everything in memory
    /// (`--in-memory`). `wharf serve` uses ./wharf-data unless told otherwise.
    public var storage: LocalLogOptions?
    /// `[top]`: the dashboard's defaults (flags override them).
    public var top = DashboardSettings()
    /// `[cluster]`: cluster mode over NATS JetStream; nil is a single node.
    public var cluster: ClusterSettings?

    public init() {}

    /// What `wharf serve` starts from: the defaults, durable (`--in-memory`
    /// or `[storage] enabled = false` turn the store off); library users of
    /// `ServerConfig` opt in to storage.
    public static var serveDefaults: ServerConfig {
        var config = ServerConfig()
        config.storage = LocalLogOptions()
        return config
    }
}

/// What `[metrics]` sets of the HTTP listener's limits; nil leaves the
/// listener's own default (`MetricsServer.Limits` in WharfExporter, which
/// this module does not depend on).
public struct MetricsListenerLimits: Sendable, Equatable {
    public var maxConnections: Int?
    public var requestReadTimeout: TimeAmount?
    public var idleTimeout: TimeAmount?
    public var maxRequestBodyBytes: Int?
    public var maxHeaderBytes: Int?

    public init() {}
}

/// What `wharf top` and `wharf demo` read from the `[top]` section.
public struct DashboardSettings: Sendable, Hashable {
    public var theme: String?
    public var interval: Double?
    public var lagWarning: Double?
    public var lagCritical: Double?
    public var depthWarning: Double?
    public var depthCritical: Double?
    public var p99Warning: Double?
    public var p99Critical: Double?

    public init() {}
}

/// `[limits]` rates and per-address caps; 0 turns each off (the default:
/// what is safe depends on the clients, NAT in front of many of them say).
public struct ClientLimits: Sendable, Equatable {
    public var connectionsPerAddress = 0
    /// New sockets a second from one address.
    public var connectionRatePerAddress = 0.0
    /// PUBLISH packets a second per client.
    public var publishRate = 0.0
    /// PUBLISH bytes a second per client.
    public var publishBytesRate = 0

    public init() {}
}
