import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import WharfCore
import WharfDemo
import WharfServer
import WharfStorage
import WharfTop

/// `wharf demo`: a broker on free loopback ports, synthetic traffic, and the
/// dashboard watching it, all in one process. `q` or Ctrl-C ends everything.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a broker with synthetic traffic and watch it in the live dashboard."
    )

    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        if dashboard.listedThemes() { return }
        let options = try dashboard.resolve()
        let theme = try dashboard.loadTheme(options.theme)
        try DashboardOptions.requireTerminal()
        // The dashboard owns the terminal: the broker logs to a file.
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-demo.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let logFile = FileHandle(forWritingAtPath: logPath)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return logFile.map { FileLogHandler(label: label, file: $0, level: .info) } ?? handler
        }
        var settings = ServerConfig()
        settings.port = 0
        settings.metricsPort = 0
        // Durable, as `wharf serve` is, in a directory of its own that goes
        // with the demo (so the dashboard's storage figures are live).
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-demo-\(getpid())").path
        settings.storage = StorageOptions(directory: dataDirectory)
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        // Policies the demo shows: orders expire after 15 s unread; repair
        // requests get 3 delivery attempts, then go to $DLQ/repairs/...
        settings.policies = [
            DeliveryPolicy(pattern: "orders/#", messageTTL: 15),
            DeliveryPolicy(pattern: "repairs/#", maxDeliveryAttempts: 3),
        ]
        let termination = TerminationSignal()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let logger = Logger(label: "wharf")
        let server = try BrokerServer(config: settings, group: group, logger: logger, version: WharfVersion.string)
        let services: BrokerServices
        do {
            services = try BrokerServices(server: server, logger: logger)
        } catch {
            try await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        let ports: (mqtt: Int, metrics: Int?)
        do {
            ports = try await withThrowingTaskGroup(of: Void.self, returning: (mqtt: Int, metrics: Int?).self) { tasks in
                tasks.addTask { try await services.group.run() }
                guard let ports = await services.boundPorts() else {
                    // A listener could not bind: the group ends with why.
                    try await tasks.waitForAll()
                    throw ValidationError("the demo's broker stopped before it listened")
                }
                let traffic = DemoTraffic(port: ports.mqtt)
                do {
                    try await traffic.run()
                } catch {
                    await services.group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    throw ValidationError("demo traffic could not connect to its broker: \(error)")
                }
                let endpoint = try SnapshotEndpoint(parsing: "http://127.0.0.1:\(ports.metrics ?? 0)")
                TopApp(endpoints: [endpoint], interval: options.interval, theme: theme, thresholds: options.thresholds)
                    .run { termination.received != nil }
                await traffic.stop()
                await services.group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return ports
            }
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        print("wharf demo: broker was on 127.0.0.1:\(ports.mqtt), metrics on :\(ports.metrics ?? 0); its log is \(logPath)")
    }
}

/// swift-log to a file, one line per message.
struct FileLogHandler: LogHandler {
    let label: String
    let file: FileHandle
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, file: FileHandle, level: Logger.Level) {
        self.label = label
        self.file = file
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        file.write(Data("\(Date()) \(event.level) \(label):\(fields) \(event.message)\n".utf8))
    }
}
