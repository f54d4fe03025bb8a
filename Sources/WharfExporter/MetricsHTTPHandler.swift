import Foundation
import NIOCore
import NIOHTTP1
import WharfMetrics

/// Serves the metrics endpoints:
/// `GET /metrics` (Prometheus text), `GET /api/v1/snapshot` (JSON),
/// `GET /healthz` and `GET /readyz`. It sees only what `HTTPConnectionGuard`
/// let through: whole requests, in order, with any body already discarded.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let snapshot: @Sendable () -> MetricsSnapshot
    private let isReady: @Sendable () -> Bool
    private var request: HTTPRequestHead?

    init(snapshot: @escaping @Sendable () -> MetricsSnapshot, isReady: @escaping @Sendable () -> Bool) {
        self.snapshot = snapshot
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, contentType, body) = respond(to: head)
            write(context: context, head: head, status: status, contentType: contentType, body: body)
        }
    }

    private func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET is supported\n".utf8))
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/metrics":
            let openMetrics = PrometheusRenderer.wantsOpenMetrics(accept: head.headers.first(name: "Accept"))
            return (
                .ok, openMetrics ? PrometheusRenderer.openMetricsContentType : PrometheusRenderer.contentType,
                PrometheusRenderer.render(snapshot(), openMetrics: openMetrics)
            )
        case "/api/v1/snapshot":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(snapshot())) ?? Data("{}".utf8)
            return (.ok, "application/json", Array(json) + [UInt8(ascii: "\n")])
        case "/healthz":
            return (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
        case "/readyz":
            return isReady()
                ? (.ok, "text/plain; charset=utf-8", Array("ready\n".utf8))
                : (.serviceUnavailable, "text/plain; charset=utf-8", Array("not ready\n".utf8))
        default:
            return (.notFound, "text/plain; charset=utf-8", Array("not found; try /metrics, /api/v1/snapshot, /healthz or /readyz\n".utf8))
        }
    }

    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: [UInt8]
    ) {
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
