import Foundation
import NIOCore
import NIOHTTP1
import WharfMetrics

/// Serves the metrics endpoints:
/// `GET /metrics` (Prometheus text), `GET /api/v1/snapshot` (JSON),
/// `GET /healthz` and `GET /readyz`.
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

    private func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "only GET is supported\n")
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/metrics":
            return (.ok, PrometheusRenderer.contentType, PrometheusRenderer.render(snapshot()))
        case "/api/v1/snapshot":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(snapshot())).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return (.ok, "application/json", json + "\n")
        case "/healthz":
            return (.ok, "text/plain; charset=utf-8", "ok\n")
        case "/readyz":
            return isReady()
                ? (.ok, "text/plain; charset=utf-8", "ready\n")
                : (.serviceUnavailable, "text/plain; charset=utf-8", "not ready\n")
        default:
            return (.notFound, "text/plain; charset=utf-8", "not found; try /metrics, /api/v1/snapshot, /healthz or /readyz\n")
        }
    }

    private func write(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: String) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
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
