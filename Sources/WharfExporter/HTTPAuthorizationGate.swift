import NIOCore
import NIOHTTP1

/// Answers 401 to a request whose credentials `MetricsServer.Access` does
/// not accept, before any endpoint sees it, and counts it as `unauthorized`.
/// It sits after `HTTPConnectionGuard`, so it sees whole requests in order;
/// the answer goes out at the request's end, like the endpoints' answers, so
/// pipelined requests are still answered in order. The connection stays
/// open: a scraper that just got its token changed should not pay a new
/// TLS handshake for each retry.
final class HTTPAuthorizationGate: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let access: MetricsServer.Access
    private let counters: HTTPLimitCounters
    /// The request under way, when it is refused.
    private var refused: HTTPRequestHead?

    init(access: MetricsServer.Access, counters: HTTPLimitCounters) {
        self.access = access
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            refused = access.permits(head) ? nil : head
            if refused == nil { context.fireChannelRead(data) }
        case .body:
            if refused == nil { context.fireChannelRead(data) }
        case .end:
            guard let head = refused else { return context.fireChannelRead(data) }
            refused = nil
            counters.record(.unauthorized)
            HTTPAnswer(.unauthorized, text: "unauthorized", headers: [("WWW-Authenticate", access.challenge)])
                .write(to: context, answering: head)
        }
    }
}
