import NIOCore
import NIOPosix
import WharfMQTT

/// A small MQTT 3.1.1 client for the demo's synthetic traffic: it connects,
/// subscribes, publishes on a schedule and acknowledges, optionally slowly.
/// Everything runs on its channel's event loop.
final class DemoClientHandler: ChannelInboundHandler {
    typealias InboundIn = InboundPacket
    typealias OutboundOut = ByteBuffer

    let clientId: String
    let cleanSession: Bool
    let subscriptions: [SubscribePacket.Subscription]
    /// Seconds to wait before acknowledging each QoS 1 message (0: at once).
    var ackDelay: @Sendable () -> Double = { 0 }
    private var context: ChannelHandlerContext?
    private var nextPacketId: UInt16 = 0
    private(set) var inflight = 0
    private(set) var connected = false
    private var pinger: RepeatedTask?

    init(clientId: String, cleanSession: Bool, subscriptions: [SubscribePacket.Subscription]) {
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.subscriptions = subscriptions
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        send(.connect(ConnectPacket(clientId: clientId, cleanSession: cleanSession, keepAlive: 30)))
        // Keep-alive: a client that only receives QoS 0 sends nothing else, and
        // the broker closes a connection silent for 1.5 x keep-alive.
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(10), delay: .seconds(10)) { _ in
            handler.value.send(.pingreq)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pinger?.cancel()
        pinger = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).packet {
        case .connack(let ack) where ack.returnCode == .accepted:
            connected = true
            if !subscriptions.isEmpty {
                send(.subscribe(SubscribePacket(packetId: packetId(), subscriptions: subscriptions)))
            }
        case .puback:
            inflight = max(0, inflight - 1)
        case .publish(let publish):
            guard publish.qos == .atLeastOnce, let id = publish.packetId else { break }
            let delay = ackDelay()
            if delay <= 0 {
                send(.puback(PublishAckPacket(packetId: id)))
            } else {
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) {
                    handler.value.send(.puback(PublishAckPacket(packetId: id)))
                }
            }
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Publishes one message if the window allows (QoS 1 keeps at most 50 in flight).
    func publish(topic: String, payload: String, qos: QoS, retain: Bool = false) {
        guard connected, let context else { return }
        if qos != .atMostOnce && inflight >= 50 { return }
        var buffer = context.channel.allocator.buffer(capacity: payload.utf8.count + topic.utf8.count + 8)
        buffer.writeString(payload)
        var id: UInt16?
        if qos != .atMostOnce {
            id = packetId()
            inflight += 1
        }
        send(.publish(PublishPacket(topic: topic, payload: buffer, qos: qos, retain: retain, packetId: id)))
    }

    func disconnect() {
        guard let context else { return }
        send(.disconnect(DisconnectPacket()))
        context.close(promise: nil)
    }

    private func send(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        packet.encode(into: &buffer, version: .v3_1_1)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func packetId() -> UInt16 {
        nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
        return nextPacketId
    }
}

/// Connects a demo client and hands back its handler, bound to its loop.
enum DemoConnection {
    static func open(
        host: String, port: Int, group: any EventLoopGroup, clientId: String, cleanSession: Bool = true,
        subscriptions: [SubscribePacket.Subscription] = [], ackDelay: @escaping @Sendable () -> Double = { 0 }
    ) -> EventLoopFuture<NIOLoopBound<DemoClientHandler>> {
        let loop = group.next()
        return ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = DemoClientHandler(clientId: clientId, cleanSession: cleanSession, subscriptions: subscriptions)
                    handler.ackDelay = ackDelay
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser(asClient: true)))
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: DemoClientHandler.self)
                return NIOLoopBound(handler, eventLoop: channel.eventLoop)
            }
    }
}
