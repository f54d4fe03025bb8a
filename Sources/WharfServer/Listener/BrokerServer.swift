import Logging
import NIOCore
import NIOPosix
import Synchronization
import Foundation
import WharfCore
import WharfExporter
import WharfMetrics
import WharfMQTT

/// The MQTT listener: a NIO server bootstrap whose child pipelines are
/// packet decoder -> keep-alive timer -> connection handler.
public final class BrokerServer: Sendable {
    static let keepAliveHandlerName = "wharf.keepalive"

    public let broker: Broker
    public let config: ServerConfig
    public let counters: BrokerCounters
    private let version: String
    private let startTimeSeconds = Date().timeIntervalSince1970
    private let metricsServer = Mutex<MetricsServer?>(nil)
    private let sysPublisher = Mutex<SysTopicPublisher?>(nil)
    private let group: any EventLoopGroup
    private let logger: Logger
    private let limiter: ConnectionLimiter
    private let authenticator: Authenticator
    private let loopClocks: LoopClocks
    private let serverChannel = Mutex<(any Channel)?>(nil)
    private let timers = Mutex<RepeatedTask?>(nil)
    /// How often timed work runs (retry backoffs, will delays, session
    /// expiry, de-duplication windows): fine enough for sub-second backoffs.
    static let timerInterval = TimeAmount.milliseconds(25)

    /// Reads the password file named by `config`, if any, and opens and
    /// recovers the data directory (see `StorageOptions`): what it held is
    /// back in the broker before the listener opens.
    public init(config: ServerConfig, group: any EventLoopGroup, logger: Logger, version: String) throws {
        self.authenticator = try Authenticator(config: config)
        let needed = config.limits.maxConnections + config.maxPendingConnections + OpenFileLimit.overhead
        if let limit = OpenFileLimit.raise(toward: needed),
            let warning = OpenFileLimit.warning(maxConnections: config.limits.maxConnections, maxPending: config.maxPendingConnections, limit: limit)
        {
            logger.warning("\(warning)")
        }
        var journal: any BrokerJournal = InMemoryJournal()
        if var options = config.storage {
            options.dedupWindowSeconds = config.delivery.dedupWindow
            let (opened, report) = try LocalLogJournal.open(options, log: { logger.warning("\($0)") })
            journal = opened
            logger.info(
                "recovered \(options.directory): \(report.segments) segments, \(report.records) records, \(report.bytes) bytes in \(String(format: "%.3f", report.seconds)) s",
                metadata: report.truncatedBytes > 0 ? ["truncated_bytes": "\(report.truncatedBytes)"] : [:]
            )
        }
        self.config = config
        self.group = group
        self.logger = logger
        self.version = version
        self.counters = BrokerCounters()
        self.broker = Broker(
            limits: config.limits, metrics: config.metricsRecording ? counters : NoMetrics(),
            latency: LatencyRecorder(shardCount: max(2, System.coreCount * 2)),
            topicStatistics: TopicStatistics(.init(limit: config.topicSeriesLimit, prefixes: config.topicPrefixes)),
            recordsDetail: config.metricsRecording,
            policies: DeliveryPolicies(config.policies),
            delivery: config.delivery,
            journal: journal
        )
        self.loopClocks = LoopClocks(group: group)
        self.limiter = ConnectionLimiter(maximum: config.limits.maxConnections, maximumPending: config.maxPendingConnections)
        if journal.isDurable {
            let restored = journal.recover(into: broker)
            if restored.sessions + restored.groups + restored.retained + restored.wills > 0 {
                logger.info(
                    "restored \(restored.sessions) sessions, \(restored.groups) groups, \(restored.queuedMessages) queued messages, \(restored.retained) retained, \(restored.wills) delayed wills\(restored.expired > 0 ? "; \(restored.expired) had expired" : "")"
                )
            }
            try journal.start()
        }
    }

    /// What `start` bound.
    public struct BoundPorts: Sendable {
        public var mqtt: Int
        public var metrics: Int?
    }

    /// A snapshot of every figure the broker keeps (see docs/metrics.md).
    public func snapshot() -> MetricsSnapshot {
        broker.snapshot(
            counters: counters, version: version, startTimeSeconds: startTimeSeconds,
            nowSeconds: Date().timeIntervalSince1970, maxConnections: config.limits.maxConnections
        )
    }

    /// Binds the MQTT listener, then the metrics listener unless disabled.
    /// Ports of 0 pick free ones.
    @discardableResult
    public func start() async throws -> BoundPorts {
        let mqtt = try await startMQTT()
        let broker = self.broker
        let task = group.next().scheduleRepeatedTask(initialDelay: Self.timerInterval, delay: Self.timerInterval) { _ in
            broker.runTimers()
        }
        timers.withLock { $0 = task }
        if config.sysInterval > 0 {
            let publisher = SysTopicPublisher(
                broker: broker, eventLoop: group.next(), interval: .seconds(Int64(config.sysInterval)),
                snapshot: { [self] in self.snapshot() }
            )
            sysPublisher.withLock { $0 = publisher }
        }
        guard config.metricsEnabled else { return BoundPorts(mqtt: mqtt, metrics: nil) }
        let metrics = MetricsServer(
            logger: logger, limits: config.metricsLimits,
            snapshot: { [self] in self.snapshot() },
            isReady: { [self] in self.serverChannel.withLock { $0 != nil } }
        )
        let port: Int
        do {
            port = try await metrics.start(host: config.metricsBind, port: config.metricsPort)
        } catch {
            throw ListenError(what: "metrics", host: config.metricsBind, port: config.metricsPort, underlying: error)
        }
        metricsServer.withLock { $0 = metrics }
        return BoundPorts(mqtt: mqtt, metrics: port)
    }

    private func startMQTT() async throws -> Int {
        let broker = self.broker
        let limiter = self.limiter
        let authenticator = self.authenticator
        let loopClocks = self.loopClocks
        let logger = self.logger
        let maxPacketSize = config.limits.maxPacketSize
        let connectTimeout = TimeAmount.seconds(Int64(config.connectTimeoutSeconds))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A connection keeps its receive buffer between reads. NIO's
            // default first guess, 2 KiB, was a fifth of what an idle
            // connection costs; a busy one grows to what it reads (up to 64 KiB).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: maxPacketSize)))
                    try pipeline.addHandler(KeepAliveHandler(timeout: connectTimeout, resetByPackets: false), name: Self.keepAliveHandlerName)
                    try pipeline.addHandler(MQTTConnectionHandler(
                        broker: broker, limiter: limiter, authenticator: authenticator, loopClocks: loopClocks, logger: logger
                    ))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: config.bind, port: config.port).get()
        } catch {
            throw ListenError(what: "MQTT", host: config.bind, port: config.port, underlying: error)
        }
        serverChannel.withLock { $0 = channel }
        let port = channel.localAddress?.port ?? config.port
        logger.info("MQTT listener on \(config.bind):\(port)")
        return port
    }

    /// Stops accepting and closes the listener. Client connections close when
    /// the event loop group shuts down.
    public func stop() async {
        let channel = serverChannel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
        logger.info("MQTT listener closed")
        timers.withLock { task in
            task?.cancel()
            task = nil
        }
        loopClocks.stop()
        // 5.0 clients get DISCONNECT 0x8B before their connection closes.
        for connection in broker.connections { connection.serverShuttingDown() }
        sysPublisher.withLock { publisher in
            publisher?.stop()
            publisher = nil
        }
        let metrics = metricsServer.withLock { server in
            defer { server = nil }
            return server
        }
        await metrics?.stop()
        // Last: what the connections' final batches submitted is written and synced.
        broker.journal.close()
    }
}

/// A listener that could not bind, with the address in the message.
public struct ListenError: Error, CustomStringConvertible {
    public let what: String
    public let host: String
    public let port: Int
    public let underlying: any Error

    public var description: String {
        let reason = (underlying as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(underlying)"
        return "cannot listen for \(what) on \(host):\(port): \(reason)"
    }
}
