import NIOCore
import NIOHTTP1

/// Holds one connection to `MetricsServer.Limits`: a request must arrive in
/// full within `requestReadTimeout` of its first byte (408), a connection with
/// no request under way closes after `idleTimeout` (signalled by NIO's
/// `IdleStateHandler`), bodies are bounded before they are read (413), and
/// what the decoder cannot parse is answered (400, or 431 for oversized
/// headers). Every refusal closes the connection: once framing is in doubt,
/// nothing after it can be trusted to be the next request.
final class HTTPConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// How long a refused connection keeps draining after its answer. Closing a
    /// socket with the client's bytes still unread sends a reset, which can
    /// destroy the answer before the client reads it.
    static let lingerTime = TimeAmount.seconds(2)

    private enum State {
        /// No request under way: the idle timeout applies.
        case waiting
        /// Part of a request is in; all of it must be by the deadline.
        case reading
        /// The last request has been passed on, or a refusal sent: whatever
        /// else comes in is dropped until the connection closes.
        case closing
    }

    private let limits: MetricsServer.Limits
    private let counters: HTTPLimitCounters
    private let connections: HTTPConnectionRegistry
    private var state = State.waiting
    /// False once a request asked to close: it is the last one answered.
    private var keepAlive = true
    private var deadline: Scheduled<Void>?

    init(limits: MetricsServer.Limits, counters: HTTPLimitCounters, connections: HTTPConnectionRegistry) {
        self.limits = limits
        self.counters = counters
        self.connections = connections
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HTTPRequestBytesArrived {
            connections.touch(context.channel)
            if case .waiting = state { beginRequest(context: context) }
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            // Idleness in the middle of a request is the deadline's business.
            guard case .waiting = state else { return }
            counters.record(.idleConnectionClosed)
            state = .closing
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .closing = state { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            // A pipelined request came in the same read as the previous one's end.
            if case .waiting = state { beginRequest(context: context) }
            if let refusal = refusal(of: head) {
                refuse(context: context, .payloadTooLarge, refusal, counting: .oversizedBody)
                return
            }
            if !head.isKeepAlive { keepAlive = false }
            context.fireChannelRead(data)
        case .body:
            // The endpoints take no body; `refusal(of:)` has bounded it already.
            break
        case .end:
            deadline?.cancel()
            deadline = nil
            state = keepAlive ? .waiting : .closing
            // Answers still queued mean the client sends faster than it reads;
            // answering more would only pile them up in memory.
            guard context.channel.isWritable else {
                counters.record(.unreadResponseClose)
                state = .closing
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(data)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .closing = state { return }
        guard let parserError = error as? HTTPParserError else {
            // A reset or other I/O failure: nobody to answer.
            state = .closing
            context.close(promise: nil)
            return
        }
        if case .headerOverflow = parserError {
            refuse(context: context, .requestHeaderFieldsTooLarge, "request head too large", counting: .oversizedHeaders)
        } else {
            refuse(context: context, .badRequest, "malformed request", counting: .malformedRequest)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        state = .closing
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func beginRequest(context: ChannelHandlerContext) {
        state = .reading
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limits.requestReadTimeout) {
            self.refuse(context: context, .requestTimeout, "request not received in time", counting: .requestTimeout)
        }
    }

    /// Why a request's body is refused before any of it is read, if it is.
    private func refusal(of head: HTTPRequestHead) -> String? {
        // The decoder has already refused a request with both framings.
        if head.headers.contains(name: "Transfer-Encoding") {
            return "request bodies must declare their length"
        }
        if let declared = head.headers.first(name: "Content-Length") {
            guard let length = Int(declared), length <= limits.maxRequestBodyBytes else {
                return "request body too large"
            }
        }
        return nil
    }

    private func refuse(context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ reason: String, counting event: HTTPLimitEvent) {
        counters.record(event)
        state = .closing
        deadline?.cancel()
        deadline = nil
        let body = context.channel.allocator.buffer(string: reason + "\n")
        let headers = HTTPHeaders([
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "\(body.readableBytes)"),
            ("Connection", "close"),
        ])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            self.linger(context: context)
        }
    }

    /// Half-closes after a refusal, so the client sees the answer then the
    /// end, and drops what it still sends until it closes too or time is up.
    private func linger(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            context.close(promise: nil)
        }
    }
}
