import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import WharfServer
import WharfStorage

/// `wharf serve`: run the broker until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the MQTT broker."
    )

    @Option(name: .long, help: "TOML configuration file (see README). Flags override it.")
    var config: String?

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1).")
    var bind: String?

    @Option(name: .long, help: "MQTT port (default 1883; 0 picks a free port).")
    var port: Int?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(name: .long, help: "HTTP port for /metrics and /api/v1/snapshot (default 18883; 0 picks a free port).")
    var metricsPort: Int?

    @Flag(name: .long, help: "Do not start the metrics HTTP listener.")
    var noMetrics = false

    @Flag(name: .long, help: "Switch the metrics model off entirely (no listener, no $SYS): to measure what metrics cost.")
    var noMetricsRecording = false

    @Option(name: .long, help: "Seconds between $SYS/broker/... updates (default 10; 0 turns them off).")
    var sysInterval: Int?

    @Option(name: .long, help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: "Data directory of the durable store (default ./wharf-data).")
    var dataDir: String?

    @Option(name: .long, help: "When writes are made durable: always (default: acknowledged means on disk), never, or \"every 50ms\".")
    var fsync: String?

    @Option(name: .long, help: "Refuse new messages past this much on disk (like 10GiB).")
    var storageQuota: String?

    @Flag(name: .long, help: "Keep everything in memory: nothing survives a restart.")
    var inMemory = false

    func run() async throws {
        // `wharf serve` is durable unless told otherwise (`--in-memory`, or
        // `[storage] enabled = false`); library users of ServerConfig opt in.
        var settings = ServerConfig()
        settings.storage = StorageOptions()
        if let config {
            do {
                settings = try ConfigFileLoader.load(path: config, over: settings)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        if let dataDir { settings.storage = settings.storage ?? StorageOptions(); settings.storage?.directory = dataDir }
        if let fsync {
            guard let policy = StorageOptions.FsyncPolicy(parsing: fsync) else {
                throw ValidationError("--fsync must be always, never or \"every <ms>ms\"; got \"\(fsync)\"")
            }
            settings.storage = settings.storage ?? StorageOptions()
            settings.storage?.fsync = policy
        }
        if let storageQuota {
            guard let bytes = StorageOptions.parseSize(storageQuota) else {
                throw ValidationError("--storage-quota must be a size like 512MiB or 10GB; got \"\(storageQuota)\"")
            }
            settings.storage = settings.storage ?? StorageOptions()
            settings.storage?.quotaBytes = bytes
        }
        if inMemory { settings.storage = nil }
        if let bind { settings.bind = bind }
        if let port {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
            settings.port = port
        }
        if let metricsPort {
            guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be between 0 and 65535") }
            settings.metricsPort = metricsPort
        }
        if noMetrics { settings.metricsEnabled = false }
        if let sysInterval {
            guard sysInterval >= 0 else { throw ValidationError("--sys-interval must be 0 or more") }
            settings.sysInterval = sysInterval
        }
        if noMetricsRecording {
            settings.metricsRecording = false
            settings.metricsEnabled = false
            settings.sysInterval = 0
        }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
            settings.logLevel = level
        }
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wharf")
        let signals = await ShutdownSignals()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? System.coreCount)
        let server: BrokerServer
        do {
            server = try BrokerServer(config: settings, group: group, logger: logger, version: WharfVersion.string)
        } catch {
            try await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        let services = BrokerServices(server: server, logger: logger)
        let (mqttHost, metricsHost) = (settings.bind, settings.metricsBind)
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await signals.shutDown(services.group, logger: logger) }
                tasks.addTask {
                    guard let ports = await services.boundPorts() else { return }
                    // One line scripts can wait for.
                    let metrics = ports.metrics.map { ", metrics on http://\(metricsHost):\($0)/metrics" } ?? ""
                    FileHandle.standardOutput.write(Data("wharf \(WharfVersion.string) listening on \(mqttHost):\(ports.mqtt)\(metrics)\n".utf8))
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
