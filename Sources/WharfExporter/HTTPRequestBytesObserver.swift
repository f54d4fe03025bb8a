import NIOCore

/// Fired ahead of every read, before the decoder sees the bytes.
struct HTTPRequestBytesArrived {}

/// Sits in front of the HTTP decoder and says when bytes come in. The decoder
/// shows nothing of a request until its head is complete, and a head that is
/// never completed is exactly what `HTTPConnectionGuard` must time out.
final class HTTPRequestBytesObserver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(HTTPRequestBytesArrived())
        context.fireChannelRead(data)
    }
}
