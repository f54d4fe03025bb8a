import NIOCore

/// The thin NIO side of a connection: bytes in, operations out to the
/// `NATSConnection`; a new one per socket.
final class NATSChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: NATSConnection
    private var parser = NATSProtocolParser()
    private var buffer: ByteBuffer?

    init(connection: NATSConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        do {
            while let operation = try parser.parse(&buffer!) {
                connection.received(operation, on: context.channel)
            }
        } catch {
            connection.protocolViolation(error)
            buffer = nil
            context.close(promise: nil)
            return
        }
        if buffer!.readableBytes == 0 {
            buffer = nil
        } else if buffer!.readerIndex > 64 * 1024 {
            buffer!.discardReadBytes()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context.channel.isWritable, on: context.channel)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.noteError("\(error)")
        context.close(promise: nil)
    }
}
