import NIOCore
import WharfMQTT

/// One bench connection: connects, optionally subscribes and counts what
/// arrives, optionally publishes a fixed number of messages as fast as the
/// socket (QoS 0) or the acknowledgement window (QoS 1) allows.
final class BenchClientHandler: ChannelInboundHandler {
    typealias InboundIn = InboundPacket
    typealias OutboundOut = ByteBuffer

    struct PublishPlan {
        var topic: String
        var qos: QoS
        var count: Int
        var payloadSize: Int
        var window: Int
    }

    let clientId: String
    let cleanSession: Bool
    let connected: EventLoopPromise<Void>
    var subscribed: EventLoopPromise<Void>?
    var published: EventLoopPromise<Void>?
    let stats: ReceiveStats?

    private var context: ChannelHandlerContext?
    private var plan: PublishPlan?
    private var sentCount = 0
    private var ackedCount = 0
    private var nextPacketId: UInt16 = 0
    private var pendingAcks: ByteBuffer?

    init(clientId: String, cleanSession: Bool = true, connected: EventLoopPromise<Void>, stats: ReceiveStats?) {
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.connected = connected
        self.stats = stats
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        MQTTPacket.connect(ConnectPacket(clientId: clientId, cleanSession: cleanSession, keepAlive: 60)).encode(into: &buffer, version: .v3_1_1)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func subscribe(filter: String, qos: QoS, promise: EventLoopPromise<Void>) {
        guard let context else { return }
        subscribed = promise
        var buffer = context.channel.allocator.buffer(capacity: 64)
        MQTTPacket.subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: filter, qos: qos)]))
            .encode(into: &buffer, version: .v3_1_1)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func startPublishing(_ plan: PublishPlan, promise: EventLoopPromise<Void>) {
        self.plan = plan
        self.published = promise
        pump()
    }

    /// Writes as many messages as writability and the window allow, one flush.
    private func pump() {
        guard let context, let plan else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 * 1024)
        while sentCount < plan.count && context.channel.isWritable && buffer.readableBytes < 60 * 1024 {
            if plan.qos != .atMostOnce && sentCount - ackedCount >= plan.window { break }
            var packetId: UInt16?
            if plan.qos != .atMostOnce {
                nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
                packetId = nextPacketId
            }
            PublishPacket.writeHeader(
                topic: plan.topic, qos: plan.qos, retain: false, dup: false, packetId: packetId,
                payloadLength: plan.payloadSize, into: &buffer
            )
            // First 8 bytes carry the send time for latency.
            buffer.writeInteger(NIODeadline.now().uptimeNanoseconds)
            buffer.writeRepeatingByte(0x61, count: plan.payloadSize - 8)
            sentCount += 1
        }
        if buffer.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        if plan.qos == .atMostOnce && sentCount == plan.count {
            finishPublishing()
        } else if sentCount < plan.count && context.channel.isWritable && (plan.qos == .atMostOnce || sentCount - ackedCount < plan.window) {
            // Buffer chunk was full: continue on the next loop tick.
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { handler.value.pump() }
        }
    }

    private func finishPublishing() {
        published?.succeed()
        published = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data).packet
        switch packet {
        case .connack(let ack):
            if ack.returnCode == .accepted {
                connected.succeed()
            } else {
                connected.fail(BenchError.refused("\(ack.returnCode)"))
            }
        case .suback:
            subscribed?.succeed()
            subscribed = nil
        case .puback:
            ackedCount += 1
            if let plan, ackedCount == plan.count { finishPublishing() }
        case .publish(let publish):
            if let sentAt = publish.payload.getInteger(at: publish.payload.readerIndex, as: UInt64.self) {
                stats?.record(latencyNanos: NIODeadline.now().uptimeNanoseconds &- sentAt)
            }
            if let id = publish.packetId, publish.qos == .atLeastOnce {
                if pendingAcks == nil { pendingAcks = context.channel.allocator.buffer(capacity: 1024) }
                MQTTPacket.puback(PublishAckPacket(packetId: id)).encode(into: &pendingAcks!, version: .v3_1_1)
            }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let acks = pendingAcks {
            context.writeAndFlush(wrapOutboundOut(acks), promise: nil)
            pendingAcks = nil
        }
        pump()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connected.fail(error)
        context.close(promise: nil)
    }
}

enum BenchError: Error, CustomStringConvertible {
    case refused(String)
    case timedOut(received: Int, expected: Int)

    var description: String {
        switch self {
        case .refused(let code): return "broker refused the connection: \(code)"
        case .timedOut(let received, let expected): return "timed out with \(received) of \(expected) messages received"
        }
    }
}
