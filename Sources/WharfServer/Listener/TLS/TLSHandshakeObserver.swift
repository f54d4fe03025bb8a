import Logging
import NIOCore
import NIOTLS

/// Counts and logs a TLS handshake that fails (plain MQTT on a TLS port, a
/// client certificate missing, expired or from another CA): the client
/// never reaches MQTT, so this is the only place it is seen.
final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let listener: ListenerStatistics
    private let logger: Logger

    init(listener: ListenerStatistics, logger: Logger) {
        self.listener = listener
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            // Past the handshake there is nothing left to watch.
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        listener.refused(.tlsHandshake)
        logger.info(
            "TLS handshake failed on \(listener.name): \(error)",
            metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")"])
        context.close(promise: nil)
    }
}
