import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import WharfServer

/// `wharf serve`: run the broker until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the MQTT broker."
    )

    @Option(name: .long, help: "TOML configuration file (see README). Flags override it.")
    var config: String?

    // Flags that set a config key take their help, check and range from its
    // declaration in ConfigKeys, and apply through it (`overrides`).
    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Listener.firstBind.help))
    var bind: String?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Listener.firstPort.help))
    var port: Int?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Limits.maxConnections.help))
    var maxConnections: Int?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Log.level.help))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Metrics.port.help))
    var metricsPort: Int?

    @Flag(name: .long, help: ArgumentHelp(ConfigKeys.Metrics.enabled.help))
    var noMetrics = false

    @Flag(name: .long, help: "Switch the metrics model off entirely (no listener, no $SYS): to measure what metrics cost.")
    var noMetricsRecording = false

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Metrics.sysInterval.help))
    var sysInterval: Int?

    @Option(name: .long, help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Storage.dataDirectory.help))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Storage.fsync.help))
    var fsync: String?

    @Option(name: .long, help: ArgumentHelp(ConfigKeys.Storage.quota.help))
    var storageQuota: String?

    @Flag(name: .long, help: ArgumentHelp(ConfigKeys.Storage.enabled.help))
    var inMemory = false

    /// The flags given that set config keys, in the order they apply
    /// (`--in-memory` after the storage flags it overrides).
    private var overrides: [(key: ConfigKey<ServerConfig>, value: ConfigValue?)] {
        [
            (ConfigKeys.Storage.dataDirectory, dataDir.map(ConfigValue.string)),
            (ConfigKeys.Storage.fsync, fsync.map(ConfigValue.string)),
            (ConfigKeys.Storage.quota, storageQuota.map(ConfigValue.string)),
            (ConfigKeys.Storage.enabled, inMemory ? false : nil),
            (ConfigKeys.Listener.firstBind, bind.map(ConfigValue.string)),
            (ConfigKeys.Listener.firstPort, port.map(ConfigValue.int)),
            (ConfigKeys.Limits.maxConnections, maxConnections.map(ConfigValue.int)),
            (ConfigKeys.Metrics.port, metricsPort.map(ConfigValue.int)),
            (ConfigKeys.Metrics.enabled, noMetrics ? false : nil),
            (ConfigKeys.Metrics.sysInterval, sysInterval.map(ConfigValue.int)),
            (ConfigKeys.Log.level, logLevel.map(ConfigValue.string)),
        ]
    }

    func run() async throws {
        var settings = ServerConfig.serveDefaults
        if let config {
            do {
                settings = try ConfigFileLoader.load(path: config, over: settings)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        for (key, value) in overrides {
            guard let value else { continue }
            do {
                try key.applyFlag(value, to: &settings)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if let conflict = settings.metricsSecurity.problem ?? settings.cluster?.problem {
            throw ValidationError("\(config ?? "wharf serve"): key '\(conflict.key)': \(conflict.problem)")
        }
        if noMetricsRecording {
            settings.metricsRecording = false
            settings.metricsEnabled = false
            settings.sysInterval = 0
        }
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wharf")
        let signals = await ShutdownSignals()
        let reloads = await ReloadSignal()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? System.coreCount)
        let server: BrokerServer
        do {
            server = try BrokerServer(config: settings, group: group, logger: logger, version: WharfVersion.string)
        } catch {
            try await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        let services: BrokerServices
        do {
            services = try BrokerServices(server: server, logger: logger)
        } catch {
            try await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        let (mqttHost, metricsHost) = (settings.bind, settings.metricsBind)
        let metricsScheme = settings.metricsSecurity.tlsCert == nil ? "http" : "https"
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await signals.shutDown(services.group, logger: logger) }
                tasks.addTask { await reloads.reload(server, services: services, logger: logger) }
                tasks.addTask {
                    guard let ports = await services.boundPorts() else { return }
                    // One line scripts can wait for.
                    let metrics = ports.metrics.map { ", metrics on \(metricsScheme)://\(metricsHost):\($0)/metrics" } ?? ""
                    // The first listener as before; any others after it, by kind.
                    let others = server.listeners.dropFirst().map { listener in
                        let bound = listener.snapshot
                        return ", \(listener.config.scheme) on \(bound.bind):\(bound.port)"
                    }
                    FileHandle.standardOutput.write(
                        Data("wharf \(WharfVersion.string) listening on \(mqttHost):\(ports.mqtt)\(others.joined())\(metrics)\n".utf8))
                }
                try await services.group.run()
                tasks.cancelAll()
            }
        } catch let error as ListenError {
            try await group.shutdownGracefully()
            throw ValidationError(error.description)
        }
        try await group.shutdownGracefully()
        logger.info("stopped")
    }
}
