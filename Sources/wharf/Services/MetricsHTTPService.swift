import Foundation
import Logging
import ServiceLifecycle
import WharfExporter
import WharfServer

/// The metrics HTTP listener (/metrics, /api/v1/snapshot, /healthz, /readyz)
/// as a service. It lives here, where both the broker and the exporter are
/// visible. It binds once the MQTT listener has: `/readyz` answers for MQTT,
/// and a broker that cannot listen for MQTT reports that, not this.
struct MetricsHTTPService: Service {
    /// The port bound.
    let port = BoundPort()
    private let server: MetricsServer
    private let broker: BrokerServer
    private let mqtt: BoundPort
    private let host: String
    private let requestedPort: Int
    private let security: MetricsSecurity
    private let logger: Logger

    /// Throws what is wrong with a `[metrics]` TLS or credentials file.
    init(broker: BrokerServer, mqtt: BoundPort, logger: Logger) throws(ConfigFileError) {
        let config = broker.config
        let security = try MetricsSecurity(config.metricsSecurity)
        self.server = MetricsServer(
            logger: logger, limits: MetricsServer.Limits(config.metricsLimits),
            snapshot: { broker.snapshot() },
            notReady: { mqtt.listening == nil ? "" : broker.notReadyReason },
            tls: security.tls?.provider,
            access: security.access
        )
        self.security = security
        self.broker = broker
        self.logger = logger
        self.mqtt = mqtt
        self.host = config.metricsBind
        self.requestedPort = config.metricsPort
    }

    func run() async throws {
        guard await mqtt.value() != nil else {
            // The MQTT listener failed: its error stops the group, and this
            // waits for that rather than report an error of its own.
            port.closed()
            try? await gracefulShutdown()
            return
        }
        let bound: Int
        do {
            bound = try await server.start(host: host, port: requestedPort)
        } catch {
            port.closed()
            throw ListenError(what: "metrics", host: host, port: requestedPort, underlying: error)
        }
        port.bound(bound)
        let announced = ["0.0.0.0", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
        let scheme = broker.config.metricsSecurity.tlsCert == nil ? "http" : "https"
        // Cluster mode: the other nodes (and `wharf top`) learn where this one answers.
        broker.announceMetricsURL("\(scheme)://\(announced.contains(":") ? "[\(announced)]" : announced):\(bound)")
        try? await gracefulShutdown()
        port.closed()
        await server.stop()
    }

    /// SIGHUP: re-reads the listener's TLS and credentials files.
    func reload() {
        security.reload(logger: logger)
    }
}

extension MetricsServer.Limits {
    /// The listener's defaults, with what `[metrics]` set.
    init(_ configured: MetricsListenerLimits) {
        self.init()
        if let value = configured.maxConnections { maxConnections = value }
        if let value = configured.requestReadTimeout { requestReadTimeout = value }
        if let value = configured.idleTimeout { idleTimeout = value }
        if let value = configured.maxRequestBodyBytes { maxRequestBodyBytes = value }
        if let value = configured.maxHeaderBytes { maxHeaderBytes = value }
    }
}
