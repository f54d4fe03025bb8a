import NIOCore
import NIOPosix
import ServiceLifecycle
import WharfMQTT

/// The MQTT listener as a service: a NIO server bootstrap whose child
/// pipelines are packet decoder -> keep-alive timer -> connection handler.
/// It accepts until graceful shutdown or cancellation, then tells every
/// connection the server is going away.
public struct MQTTListener: Service {
    /// The port bound; `listening` while connections are accepted.
    public let port = BoundPort()
    private let server: BrokerServer

    public init(server: BrokerServer) {
        self.server = server
    }

    public func run() async throws {
        let config = server.config
        let logger = server.logger
        // Flow control's per-loop clocks, for as long as connections come in.
        let loopClocks = LoopClocks(group: server.group)
        let channel: any Channel
        do {
            channel = try await bootstrap(loopClocks: loopClocks).bind(host: config.bind, port: config.port).get()
        } catch {
            loopClocks.stop()
            port.closed()
            throw ListenError(what: "MQTT", host: config.bind, port: config.port, underlying: error)
        }
        let bound = channel.localAddress?.port ?? config.port
        logger.info("MQTT listener on \(config.bind):\(bound)")
        port.bound(bound)
        try? await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: { [port] in
            port.closed()
            channel.close(promise: nil)
        }
        port.closed()
        logger.info("MQTT listener closed")
        loopClocks.stop()
        // 5.0 clients get DISCONNECT 0x8B before their connection closes.
        for connection in server.broker.connections { connection.serverShuttingDown() }
        // Each loop runs the closes just queued to it before this returns, so
        // the connections' final batches reach the store before it closes.
        for loop in server.group.makeIterator() { try? await loop.submit {}.get() }
    }

    private func bootstrap(loopClocks: LoopClocks) -> ServerBootstrap {
        let broker = server.broker
        let limiter = server.limiter
        let authenticator = server.authenticator
        let logger = server.logger
        let maxPacketSize = server.config.limits.maxPacketSize
        let connectTimeout = TimeAmount.seconds(Int64(server.config.connectTimeoutSeconds))
        return ServerBootstrap(group: server.group)
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
                    try pipeline.addHandler(
                        KeepAliveHandler(timeout: connectTimeout, resetByPackets: false), name: BrokerServer.keepAliveHandlerName)
                    try pipeline.addHandler(
                        MQTTConnectionHandler(
                            broker: broker, limiter: limiter, authenticator: authenticator, loopClocks: loopClocks, logger: logger
                        ))
                }
            }
    }
}
