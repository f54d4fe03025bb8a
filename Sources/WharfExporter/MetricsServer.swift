import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WharfMetrics

/// The HTTP listener for metrics, on the broker's event loop group.
public final class MetricsServer: Sendable {
    private let group: any EventLoopGroup
    private let logger: Logger
    private let snapshot: @Sendable () -> MetricsSnapshot
    private let isReady: @Sendable () -> Bool
    private let channel = Mutex<(any Channel)?>(nil)

    public init(
        group: any EventLoopGroup, logger: Logger,
        snapshot: @escaping @Sendable () -> MetricsSnapshot, isReady: @escaping @Sendable () -> Bool
    ) {
        self.group = group
        self.logger = logger
        self.snapshot = snapshot
        self.isReady = isReady
    }

    /// Binds and returns the port (0 picks a free one).
    public func start(host: String, port: Int) async throws -> Int {
        let snapshot = self.snapshot
        let isReady = self.isReady
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(snapshot: snapshot, isReady: isReady))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = bound }
        let actual = bound.localAddress?.port ?? port
        logger.info("metrics on http://\(host):\(actual)/metrics")
        return actual
    }

    public func stop() async {
        let bound = channel.withLock { current in
            defer { current = nil }
            return current
        }
        try? await bound?.close()
    }
}
