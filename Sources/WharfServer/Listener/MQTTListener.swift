import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import WharfCore
import WharfMQTT

/// The MQTT listeners (`[[listener]]`) as one service: a NIO server
/// bootstrap per listener, whose child pipelines are [TLS] -> [HTTP upgrade
/// -> WebSocket frames] -> packet decoder -> keep-alive timer -> connection
/// handler. It accepts until graceful shutdown or cancellation, then tells
/// every connection the server is going away: one service, so that happens
/// once, after every listener has stopped accepting.
public struct MQTTListener: Service {
    /// The first listener's port; `listening` while connections are accepted.
    public let port = BoundPort()
    private let server: BrokerServer

    public init(server: BrokerServer) {
        self.server = server
    }

    public func run() async throws {
        let logger = server.logger
        // Flow control's per-loop clocks, for as long as connections come in.
        let loopClocks = LoopClocks(group: server.group)
        var channels: [any Channel] = []
        for listener in server.listeners {
            let config = listener.config
            do {
                let channel = try await bootstrap(listener, loopClocks: loopClocks).bind(host: config.bind, port: config.port).get()
                listener.bound(to: channel.localAddress?.port ?? config.port)
                channels.append(channel)
            } catch {
                for channel in channels { channel.close(promise: nil) }
                loopClocks.stop()
                port.closed()
                throw ListenError(what: config.kindDescription, host: config.bind, port: config.port, underlying: error)
            }
            logger.info(
                "MQTT listener \(listener.name) on \(config.bind)\(config.transport == .websocket ? " path \(config.websocketPath)" : "")")
        }
        port.bound(server.listeners[0].snapshot.port)
        let open = channels
        await withTaskCancellationOrGracefulShutdownHandler {
            for channel in open { try? await channel.closeFuture.get() }
        } onCancelOrGracefulShutdown: { [port] in
            port.closed()
            for channel in open { channel.close(promise: nil) }
        }
        port.closed()
        for channel in channels { channel.close(promise: nil) }
        logger.info("MQTT listeners closed")
        loopClocks.stop()
        // 5.0 clients get DISCONNECT 0x8B before their connection closes.
        for connection in server.broker.connections { connection.serverShuttingDown() }
        // Each loop runs the closes just queued to it before this returns, so
        // the connections' final batches reach the store before it closes.
        for loop in server.group.makeIterator() { try? await loop.submit {}.get() }
    }

    private func bootstrap(_ listener: ListenerStatistics, loopClocks: LoopClocks) -> ServerBootstrap {
        let broker = server.broker
        let limiter = server.limiter
        let security = server.security
        let logger = server.logger
        let maxPacketSize = server.config.limits.maxPacketSize
        let connectTimeout = TimeAmount.seconds(Int64(server.config.connectTimeoutSeconds))
        let config = listener.config
        let addressLimits = server.addressLimits
        let clientLimits = server.config.clientLimits
        let loginThrottle = server.loginThrottle
        // The MQTT handlers, straight on the (TLS) stream or after the WebSocket upgrade.
        let addMQTT: @Sendable (any Channel) throws -> Void = { channel in
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: maxPacketSize)))
            try pipeline.addHandler(
                KeepAliveHandler(timeout: connectTimeout, resetByPackets: false), name: BrokerServer.keepAliveHandlerName)
            try pipeline.addHandler(
                MQTTConnectionHandler(
                    broker: broker, limiter: limiter, security: security, loopClocks: loopClocks, listener: listener,
                    clientLimits: clientLimits, loginThrottle: loginThrottle, logger: logger
                ))
        }
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
                    if let addressLimits, let address = channel.remoteAddress?.ipAddress {
                        // Before TLS or anything else costs: a refused socket is just closed.
                        if let refusal = addressLimits.admit(address, now: Clock.nowNanos()) {
                            let reason: ConnectionRejectReason =
                                refusal == .tooManyConnections ? .maxConnectionsPerAddress : .connectionRatePerAddress
                            broker.metrics.connectionRejected(reason)
                            logger.debug("closing a new connection from \(address): \(reason.rawValue)")
                            channel.close(promise: nil)
                            return
                        }
                        channel.closeFuture.whenComplete { _ in addressLimits.closed(address, now: Clock.nowNanos()) }
                    }
                    listener.opened()
                    channel.closeFuture.whenComplete { _ in listener.closed() }
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = listener.tls {
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls.context))
                        try pipeline.addHandler(TLSHandshakeObserver(listener: listener, logger: logger))
                    }
                    switch config.transport {
                    case .mqtt:
                        try addMQTT(channel)
                    case .websocket:
                        // A frame holds at most one packet's worth; packets may span frames.
                        try WebSocketUpgrade.configure(
                            channel, path: config.websocketPath, maxFrameSize: min(maxPacketSize + 16, Int(UInt32.max)),
                            handshakeTimeout: connectTimeout, onRefusal: { listener.refused(.websocketHandshake) }, mqtt: addMQTT)
                    }
                }
            }
    }
}
