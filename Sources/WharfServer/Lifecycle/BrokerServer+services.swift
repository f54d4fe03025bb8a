import ServiceLifecycle

extension BrokerServer {
    /// Every service that serves this broker, in the order they depend on
    /// each other, for one `ServiceGroup`: it starts them together and, on
    /// graceful shutdown, stops them one at a time in reverse. So the MQTT
    /// listener stops first (connections get DISCONNECT 0x8B while the
    /// metrics listener still answers `/readyz` with "not ready"), then the
    /// metrics listener, `$SYS`, the broker's timers, and last this server,
    /// whose store closes after the connections' final batches.
    ///
    /// - Parameter metrics: the metrics HTTP listener, if any (it lives where
    ///   the exporter is visible; this module does not depend on it).
    public func services(listener: MQTTListener, metrics: (any Service)?) -> [any Service] {
        var services: [any Service] = [self, BrokerTimers(broker: broker, eventLoop: group.next())]
        // Stops after the MQTT listener: the last connections' forwards go out first.
        if let cluster { services.append(ClusterService(node: cluster)) }
        if config.sysInterval > 0 {
            services.append(
                SysTopicPublisher(
                    broker: broker, eventLoop: group.next(), interval: .seconds(Int64(config.sysInterval)),
                    snapshot: { [self] in self.snapshot() }
                ))
        }
        if let metrics { services.append(metrics) }
        services.append(listener)
        return services
    }
}
