import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import WharfMetrics

/// The HTTP listener for metrics. It runs on an event loop of its own, so a
/// flood of scrapes (or of hostile connections) costs one thread and never
/// delays MQTT traffic; `Limits` bounds what any client can hold of it.
/// Optionally it speaks TLS and asks for credentials (`Access`); both come
/// from the caller, which owns the files and re-reads them on SIGHUP.
public final class MetricsServer: Sendable {
    private struct Running: Sendable {
        let group: MultiThreadedEventLoopGroup
        let channel: any Channel
    }

    private let logger: Logger
    private let limits: Limits
    private let snapshot: @Sendable () -> MetricsSnapshot
    private let notReady: @Sendable () -> String?
    private let tls: (@Sendable () -> NIOSSLContext)?
    private let access: Access?
    private let counters = HTTPLimitCounters()
    private let connections: HTTPConnectionRegistry
    private let running = Mutex<Running?>(nil)

    /// - Parameters:
    ///   - snapshot: called on the listener's own event loop, once per
    ///     `/metrics` or `/api/v1/snapshot` request.
    ///   - tls: the context for each new connection, asked for at accept so a
    ///     certificate re-read on SIGHUP reaches new connections at once;
    ///     nil serves plain HTTP.
    ///   - access: the credentials requests must carry; nil asks for none.
    public convenience init(
        logger: Logger, limits: Limits = Limits(),
        snapshot: @escaping @Sendable () -> MetricsSnapshot, isReady: @escaping @Sendable () -> Bool,
        tls: (@Sendable () -> NIOSSLContext)? = nil, access: Access? = nil
    ) {
        self.init(
            logger: logger, limits: limits, snapshot: snapshot, notReady: { isReady() ? nil : "" }, tls: tls, access: access)
    }

    /// - Parameter notReady: nil when the broker is ready; otherwise why
    ///   not, which `/readyz` answers with its 503 (empty: no reason given).
    public init(
        logger: Logger, limits: Limits = Limits(),
        snapshot: @escaping @Sendable () -> MetricsSnapshot, notReady: @escaping @Sendable () -> String?,
        tls: (@Sendable () -> NIOSSLContext)? = nil, access: Access? = nil
    ) {
        self.logger = logger
        self.limits = limits
        self.notReady = notReady
        self.tls = tls
        self.access = access
        let counters = self.counters
        let connections = HTTPConnectionRegistry(capacity: limits.maxConnections)
        self.connections = connections
        // Every snapshot served here carries the listener's own figures.
        self.snapshot = {
            var taken = snapshot()
            taken.http = counters.listenerSnapshot(openConnections: connections.count, maxConnections: limits.maxConnections)
            return taken
        }
    }

    /// What the limits have done so far.
    public var limitCounts: LimitCounts {
        counters.counts(openConnections: connections.count)
    }

    /// Binds and returns the port (0 picks a free one).
    public func start(host: String, port: Int) async throws -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bound: any Channel
        do {
            bound = try await bootstrap(group: group).bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        running.withLock { $0 = Running(group: group, channel: bound) }
        let actual = bound.localAddress?.port ?? port
        logger.info("metrics on \(tls == nil ? "http" : "https")://\(host):\(actual)/metrics")
        return actual
    }

    /// Closes the listener and every connection, and stops its thread.
    public func stop() async {
        let stopped = running.withLock { current in
            defer { current = nil }
            return current
        }
        guard let stopped else { return }
        try? await stopped.channel.close()
        // Shutting the loop down closes the connections still open on it.
        try? await stopped.group.shutdownGracefully()
    }

    private func bootstrap(group: MultiThreadedEventLoopGroup) -> ServerBootstrap {
        let limits = self.limits
        let counters = self.counters
        let connections = self.connections
        let snapshot = self.snapshot
        let notReady = self.notReady
        let tls = self.tls
        let access = self.access
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                if let evicted = connections.admit(channel) {
                    counters.record(.evictedConnection)
                    evicted.close(promise: nil)
                }
                channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // Reads and writes both count as activity: a slow client still
                    // taking its answer in is not idle.
                    try pipeline.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
                    // Ahead of the observer, which must see requests, not handshake bytes.
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls())) }
                    try pipeline.addHandler(HTTPRequestBytesObserver())
                    // No pipelining assistance: answers are written as soon as a
                    // request ends, so pipelined requests are answered in order
                    // anyway. No stock error handler: the guard answers parse
                    // errors itself, and closes after them.
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: false,
                        withErrorHandling: false,
                        withEncoderConfiguration: HTTPResponseEncoder.Configuration(),
                        withDecoderLimitConfiguration: limits.decoderLimits
                    )
                    try pipeline.addHandler(HTTPConnectionGuard(limits: limits, counters: counters, connections: connections))
                    if let access { try pipeline.addHandler(HTTPAuthorizationGate(access: access, counters: counters)) }
                    try pipeline.addHandler(MetricsHTTPHandler(snapshot: snapshot, notReady: notReady))
                }
            }
    }
}
