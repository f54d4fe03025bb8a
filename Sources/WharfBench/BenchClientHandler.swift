import NIOCore
import WharfMQTT

/// One bench connection: connects, then either subscribes and records what
/// arrives, publishes a fixed number of messages (as fast as the socket (QoS 0)
/// or the acknowledgement window (QoS 1) allows, or at a fixed rate), or just
/// stays connected (an idle client).
///
/// Reads are parsed in place (`BenchFrameReader`) and publishes are written
/// from a pre-encoded header, so the per-message work is a few integer reads
/// and writes: the load generator must not be what limits the broker.
final class BenchClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct PublishPlan: Sendable {
        var topic: String
        var qos: QoS
        /// This publisher's number, carried in every payload.
        var publisher: UInt32
        var count: Int
        var payloadSize: Int
        /// QoS 1 messages sent and not yet acknowledged, at most.
        var window: Int
        /// Messages per second; nil: as fast as the window and socket allow.
        var rate: Double?
    }

    /// What a publisher did, read by the runner at the end.
    struct PublishProgress: Sendable {
        var sent = 0
        var acked = 0
        /// Fixed rate only: the furthest the publisher fell behind its
        /// schedule (a full window holds it back when the broker is slow).
        var maxLagNanos: UInt64 = 0
    }

    /// How long the broker has to answer CONNECT or SUBSCRIBE.
    static let replyTimeout = TimeAmount.seconds(15)

    let clientId: String
    let cleanSession: Bool
    let keepAlive: UInt16
    private var connected: EventLoopPromise<Void>?
    private var subscribed: EventLoopPromise<Bool>?
    private var replyDeadline: Scheduled<Void>?

    private(set) var deliveries: Deliveries?
    private let progress: ReceiveProgress?
    private var reportedUnique = 0
    private var reportedTotal = 0
    private var lastReadNanos: UInt64 = 0

    private var context: ChannelHandlerContext?
    private var plan: PublishPlan?
    /// The fixed header and topic of every publish: the same bytes each time.
    private var publishPrefix = ByteBuffer()
    private var startNanos: UInt64 = 0
    private var ticker: RepeatedTask?
    private(set) var published = PublishProgress()
    private var nextPacketId: UInt16 = 0
    private var pendingAcks: ByteBuffer?
    /// The start of a packet the last read cut off.
    private var unread: ByteBuffer?

    init(
        clientId: String, cleanSession: Bool, keepAlive: UInt16, connected: EventLoopPromise<Void>,
        deliveries: Deliveries?, progress: ReceiveProgress?
    ) {
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.connected = connected
        self.deliveries = deliveries
        self.progress = progress
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        MQTTPacket.connect(ConnectPacket(clientId: clientId, cleanSession: cleanSession, keepAlive: keepAlive))
            .encode(into: &buffer, version: .v3_1_1)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        armReplyDeadline(context: context, waitingFor: "CONNACK")
    }

    func subscribe(filter: String, qos: QoS, promise: EventLoopPromise<Bool>) {
        guard let context else { return promise.fail(BenchError.closed("before SUBSCRIBE")) }
        subscribed = promise
        var buffer = context.channel.allocator.buffer(capacity: 64)
        MQTTPacket.subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: filter, qos: qos)]))
            .encode(into: &buffer, version: .v3_1_1)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        armReplyDeadline(context: context, waitingFor: "SUBACK")
    }

    /// A broker that accepts the socket and then says nothing must not hang the run.
    private func armReplyDeadline(context: ChannelHandlerContext, waitingFor packet: String) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        replyDeadline = context.eventLoop.scheduleTask(in: Self.replyTimeout) {
            handler.value.failPending(BenchError.noReply(packet))
            handler.value.context?.close(promise: nil)
        }
    }

    func startPublishing(_ plan: PublishPlan) {
        guard let context else { return }
        self.plan = plan
        let remaining = PublishPacket.remainingLength(
            topicLength: plan.topic.utf8.count, qos: plan.qos, properties: nil, payloadLength: plan.payloadSize
        )
        publishPrefix = context.channel.allocator.buffer(capacity: 8 + plan.topic.utf8.count)
        FixedHeader.write(type: .publish, flags: plan.qos.rawValue << 1, remainingLength: remaining, into: &publishPrefix)
        publishPrefix.writeMQTTString(plan.topic)
        startNanos = NIODeadline.now().uptimeNanoseconds
        if plan.rate != nil {
            // A 1 ms tick sends what the schedule says is due: 10 messages a
            // tick at 10,000/s, without a timer per message.
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            ticker = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in
                handler.value.pump()
            }
        } else {
            pump()
        }
    }

    /// Writes what the plan, the window and writability allow, in 60 KiB
    /// chunks with one flush each.
    private func pump() {
        guard let context, let plan, context.channel.isActive else { return }
        guard published.sent < plan.count else {
            ticker?.cancel()
            ticker = nil
            return
        }
        let now = NIODeadline.now().uptimeNanoseconds
        var limit = plan.count
        if let rate = plan.rate { limit = min(limit, Int(Double(now - startNanos) * rate / 1e9) + 1) }
        if plan.qos != .atMostOnce { limit = min(limit, published.acked + plan.window) }
        guard published.sent < limit, context.channel.isWritable else { return }
        if let rate = plan.rate {
            // The first message of this batch is the one furthest behind its schedule.
            let due = startNanos + UInt64(Double(published.sent) * 1e9 / rate)
            if now > due { published.maxLagNanos = max(published.maxLagNanos, now - due) }
        }
        let messageSize = publishPrefix.readableBytes + 2 + plan.payloadSize
        var buffer = context.channel.allocator.buffer(capacity: min(64 * 1024, (limit - published.sent) * messageSize))
        // One clock read per batch: the whole batch leaves in one write.
        while published.sent < limit && buffer.readableBytes + messageSize <= 64 * 1024 {
            buffer.writeImmutableBuffer(publishPrefix)
            if plan.qos != .atMostOnce {
                nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
                buffer.writeInteger(nextPacketId)
            }
            let stamp = BenchPayload.Stamp(sentNanos: now, publisher: plan.publisher, sequence: UInt32(published.sent))
            BenchPayload.write(stamp, size: plan.payloadSize, into: &buffer)
            published.sent += 1
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        if published.sent < limit && context.channel.isWritable {
            // The chunk was full: continue on the next loop tick, so reads
            // (acknowledgements) are not starved.
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { handler.value.pump() }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        var buffer: ByteBuffer
        if var unread {
            self.unread = nil
            unread.writeBuffer(&incoming)
            buffer = unread
        } else {
            buffer = incoming
        }
        lastReadNanos = NIODeadline.now().uptimeNanoseconds
        do {
            while let frame = try BenchFrameReader.next(&buffer) { handle(frame, context: context) }
        } catch {
            failPending(error)
            context.close(promise: nil)
            return
        }
        if buffer.readableBytes > 0 { unread = buffer }
    }

    private func handle(_ frame: BenchFrame, context: ChannelHandlerContext) {
        switch frame {
        case .publish(let qos, let packetId, let stamp):
            deliveries?.record(stamp, receivedNanos: lastReadNanos)
            if qos == 1 {
                if pendingAcks == nil { pendingAcks = context.channel.allocator.buffer(capacity: 1024) }
                // PUBACK: type 4, remaining length 2, packet id.
                pendingAcks!.writeInteger(UInt8(0x40))
                pendingAcks!.writeInteger(UInt8(2))
                pendingAcks!.writeInteger(packetId)
            }
        case .puback:
            published.acked += 1
        case .connack(let code):
            replyDeadline?.cancel()
            if code == 0 {
                connected?.succeed()
                connected = nil
            } else {
                failPending(BenchError.refused("CONNACK return code \(code)"))
                context.close(promise: nil)
            }
        case .suback(let granted):
            replyDeadline?.cancel()
            subscribed?.succeed(granted)
            subscribed = nil
        case .other:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let acks = pendingAcks {
            context.writeAndFlush(wrapOutboundOut(acks), promise: nil)
            pendingAcks = nil
        }
        if let progress, let total = deliveries?.total, total != reportedTotal, let unique = deliveries?.unique {
            progress.add(unique: unique - reportedUnique, total: total - reportedTotal, at: lastReadNanos)
            reportedUnique = unique
            reportedTotal = total
        }
        pump()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
        replyDeadline?.cancel()
        failPending(BenchError.closed("by the broker"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failPending(error)
        context.close(promise: nil)
    }

    /// Fails whatever the runner still waits for, once.
    private func failPending(_ error: any Error) {
        connected?.fail(error)
        connected = nil
        subscribed?.fail(error)
        subscribed = nil
    }
}

enum BenchError: Error, CustomStringConvertible {
    case refused(String)
    case noReply(String)
    case closed(String)
    case malformed(String)
    case subscribeRefused(String)
    case tooFewFileDescriptors(needed: Int, hardLimit: Int)
    case idleConnection(index: Int, of: Int, underlying: any Error)

    var description: String {
        switch self {
        case .refused(let why): return "broker refused the connection: \(why)"
        case .noReply(let packet): return "broker sent no \(packet) within \(BenchClientHandler.replyTimeout.nanoseconds / 1_000_000_000) s"
        case .closed(let when): return "connection closed \(when)"
        case .malformed(let what): return "broker sent a malformed packet: \(what)"
        case .subscribeRefused(let filter): return "broker refused the subscription to \(filter)"
        case .tooFewFileDescriptors(let needed, let hard):
            return "needs \(needed) file descriptors but the hard limit is \(hard): raise it (ulimit -Hn, or limits.conf)"
        case .idleConnection(let index, let count, let underlying):
            return "idle connection \(index + 1) of \(count) failed: \(underlying) (broker's connection limit? its file descriptor limit?)"
        }
    }
}
