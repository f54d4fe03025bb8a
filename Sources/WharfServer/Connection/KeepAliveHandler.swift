import NIOCore
import WharfMQTT

/// Closes a connection that sends no packet for a given time: 1.5 x the
/// client's keep-alive (3.1.1 section 3.1.2.10), or, before CONNECT, the
/// connect timeout counted from the connection's start.
///
/// It sits after the decoder, so only whole packets count: a client that
/// trickles bytes of a packet it never finishes does not stay alive.
///
/// Written instead of NIO's `IdleStateHandler` because that one reads the wall
/// clock, while this one reads the event loop's, so tests can drive it on an
/// `EmbeddedEventLoop`'s virtual time. One timer per connection, re-armed
/// lazily: a read only stores a timestamp.
final class KeepAliveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = InboundPacketBatch
    typealias InboundOut = InboundPacketBatch

    /// Fired down the pipeline when the connection has been silent too long.
    struct Expired: Sendable {}

    private let timeout: TimeAmount
    /// False for the connect timeout: it runs from the start, whatever arrives.
    private let resetByPackets: Bool
    /// Whether the connection still holds packets it read and has not
    /// handled yet (reading paused while a QoS 2 exchange waits for the
    /// cluster): the client sent those, so it is not silent. A reconnecting
    /// publisher resending hundreds of QoS 2 messages in one read kept a
    /// cluster node busy past 1.5 x keep-alive, and was closed for it.
    private let isHoldingInput: (() -> Bool)?
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, resetByPackets: Bool = true, isHoldingInput: (() -> Bool)? = nil) {
        self.timeout = timeout
        self.resetByPackets = resetByPackets
        self.isHoldingInput = isHoldingInput
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if resetByPackets { lastRead = context.eventLoop.now }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        lastRead = context.eventLoop.now
        arm(context, deadline: lastRead + timeout)
    }

    private func arm(_ context: ChannelHandlerContext, deadline: NIODeadline) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.check(context)
        }
    }

    private func check(_ context: ChannelHandlerContext) {
        var deadline = lastRead + timeout
        if context.eventLoop.now >= deadline, isHoldingInput?() == true {
            lastRead = context.eventLoop.now
            deadline = lastRead + timeout
        }
        if context.eventLoop.now >= deadline {
            timer = nil
            context.fireUserInboundEventTriggered(Expired())
        } else {
            arm(context, deadline: deadline)
        }
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }
}
