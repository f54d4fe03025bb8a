import NIOCore
import NIOWebSocket

/// MQTT over WebSocket (MQTT 5.0 section 6, the same for 3.1.1): the bytes
/// of MQTT packets travel in binary frames, a packet may span frames and a
/// frame may hold several packets. So this handler only unwraps frames into
/// the byte stream the packet reader parses, and wraps each outbound write
/// (one flushed batch of packets) in one binary frame. Control frames are
/// answered here; a text frame is a protocol violation and closes.
final class WebSocketMQTTAdapter: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    /// A close frame was sent: nothing more may follow it (RFC 6455 section 5.5.1).
    private var sentClose = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            guard !sentClose else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            // The client is done: answer its close and end the connection.
            sendClose(context: context, code: .normalClosure).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .text:
            // "If any other type of data frame is received the recipient MUST
            // close the Network Connection" (5.0 section 6.0).
            sendClose(context: context, code: .unacceptableData).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default:
            sendClose(context: context, code: .protocolError).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !sentClose else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    /// Closing our side for output (the broker's linger after a DISCONNECT
    /// reason, see `MQTTConnectionHandler.close`) starts the WebSocket
    /// closing handshake first, so a browser client sees a clean close.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        let closed = sendClose(context: context, code: .normalClosure)
        closed.assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: promise) }
    }

    private func sendClose(context: ChannelHandlerContext, code: WebSocketErrorCode) -> EventLoopFuture<Void> {
        guard !sentClose else { return context.eventLoop.makeSucceededVoidFuture() }
        sentClose = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: promise)
        return promise.futureResult
    }
}
