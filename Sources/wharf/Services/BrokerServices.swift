import Logging
import ServiceLifecycle
import WharfServer

/// The broker's services in one group, as `serve` and `demo` run them (see
/// `BrokerServer.services(listener:metrics:)` for their order).
struct BrokerServices: Sendable {
    let group: ServiceGroup
    let mqtt: MQTTListener
    let metrics: MetricsHTTPService?

    /// Throws what is wrong with a file the metrics listener needs.
    init(server: BrokerServer, logger: Logger) throws(ConfigFileError) {
        let mqtt = MQTTListener(server: server)
        let metrics = server.config.metricsEnabled ? try MetricsHTTPService(broker: server, mqtt: mqtt.port, logger: logger) : nil
        // The library logs each service starting and stopping at debug
        // level; those lines stay out of Wharf's log.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .info)
        self.group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: server.services(listener: mqtt, metrics: metrics), logger: quiet
            ))
        self.mqtt = mqtt
        self.metrics = metrics
    }

    /// SIGHUP: the files the broker and its metrics listener re-read.
    func reload(_ server: BrokerServer) {
        server.reload()
        metrics?.reload()
    }

    /// The ports once both listeners are bound; nil if one could not bind.
    func boundPorts() async -> (mqtt: Int, metrics: Int?)? {
        guard let mqttPort = await mqtt.port.value() else { return nil }
        guard let metrics else { return (mqttPort, nil) }
        guard let metricsPort = await metrics.port.value() else { return nil }
        return (mqttPort, metricsPort)
    }
}
