import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import WharfCluster
import WharfCore
import WharfMQTT
import WharfMetrics

/// The broker and what serving it takes: the recovered store, the counters,
/// the connection limiter and the authenticator. As a service it holds the
/// store open until graceful shutdown; first in `services(listener:metrics:)`,
/// it is the last to stop.
public final class BrokerServer: Service {
    static let keepAliveHandlerName = "wharf.keepalive"

    public let broker: Broker
    public let config: ServerConfig
    public let counters: BrokerCounters
    let group: any EventLoopGroup
    let logger: Logger
    let limiter: ConnectionLimiter
    /// The password and ACL files, re-read on SIGHUP.
    public let security: SecurityFiles
    /// The `[[listener]]`s, with their TLS contexts and counts.
    public let listeners: [ListenerStatistics]
    /// Per source address caps, checked at accept; nil when off.
    let addressLimits: AddressLimits?
    /// Failed logins per address: each refusal waits longer (see `LoginThrottle`).
    let loginThrottle = SharedLoginThrottle()
    /// Cluster mode (`[cluster]`): this node's link to the others; nil on a single node.
    public let cluster: ClusterNode?
    private let version: String
    private let startTimeSeconds = Date().timeIntervalSince1970

    /// Reads the password file named by `config`, if any, and opens and
    /// recovers the data directory (see `LocalLogOptions`): what it held is
    /// back in the broker before the listener opens.
    public init(config: ServerConfig, group: any EventLoopGroup, logger: Logger, version: String) throws {
        self.security = try SecurityFiles(config: config)
        // TLS files are read before the store opens: a bad one stops the start early.
        self.listeners = try config.listeners.map { listener throws(TLSSetupError) in try ListenerStatistics(config: listener) }
        let needed = config.limits.maxConnections + config.maxPendingConnections + OpenFileLimit.overhead
        if let limit = OpenFileLimit.raise(toward: needed),
            let warning = OpenFileLimit.warning(
                maxConnections: config.limits.maxConnections, maxPending: config.maxPendingConnections, limit: limit)
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
        if let settings = config.cluster {
            // The node's own journal stays (it still holds its persistent
            // sessions' queues); the cluster's writes join its commits.
            journal = ClusterJournal(wrapping: journal)
            var options = try ClusterOptions(settings)
            // A session's queue in the cluster holds its waiting and its
            // in-flight messages, as a session's queue does on one node.
            let queued = config.limits.maxQueuedMessages
            options.maxQueuedPerSession = queued > 0 ? queued + config.limits.maxInflightMessages : 0
            options.maxQueuedPerGroup = options.maxQueuedPerSession
            self.cluster = try ClusterNode(options: options, eventLoop: group.next(), logger: logger)
        } else {
            self.cluster = nil
        }
        self.addressLimits = AddressLimits(
            maxConnections: config.clientLimits.connectionsPerAddress, rate: config.clientLimits.connectionRatePerAddress)
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
            journal: journal,
            accessPolicy: security.accessPolicy
        )
        self.limiter = ConnectionLimiter(maximum: config.limits.maxConnections, maximumPending: config.maxPendingConnections)
        if cluster != nil { broker.expectCluster() }
        if journal.isDurable {
            let restored = journal.recover(into: broker)
            // What expired while the broker was down was dropped at recovery: counted like any expiry.
            if restored.expired > 0 { broker.metrics.messageDropped(.expired, count: restored.expired) }
            if restored.sessions + restored.groups + restored.retained + restored.wills > 0 {
                logger.info(
                    "restored \(restored.sessions) sessions, \(restored.groups) groups, \(restored.queuedMessages) queued messages, \(restored.retained) retained, \(restored.wills) delayed wills\(restored.expired > 0 ? "; \(restored.expired) had expired" : "")"
                )
            }
            try journal.start()
        }
        cluster?.attach(to: broker)
    }

    /// Why the broker is not ready for traffic beyond this node (cluster
    /// mode); nil when it is, or on a single node.
    public var notReadyReason: String? { cluster?.readiness.reason }

    /// Where this node's metrics listener answers, once it has bound: the
    /// cluster announces it so `wharf top` can find every node.
    public func announceMetricsURL(_ url: String) {
        cluster?.setMetricsURL(url)
    }

    /// A snapshot of every figure the broker keeps (see docs/metrics.md).
    public func snapshot() -> MetricsSnapshot {
        var snapshot = broker.snapshot(
            counters: counters, version: version, startTimeSeconds: startTimeSeconds,
            nowSeconds: Date().timeIntervalSince1970, maxConnections: config.limits.maxConnections
        )
        snapshot.listeners = listeners.map(\.snapshot)
        snapshot.cluster = cluster?.snapshot()
        return snapshot
    }

    /// Holds the store open until graceful shutdown (or cancellation), then
    /// closes it.
    public func run() async {
        try? await gracefulShutdown()
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

    public init(what: String, host: String, port: Int, underlying: any Error) {
        self.what = what
        self.host = host
        self.port = port
        self.underlying = underlying
    }

    public var description: String {
        let reason = (underlying as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(underlying)"
        return "cannot listen for \(what) on \(host):\(port): \(reason)"
    }
}
