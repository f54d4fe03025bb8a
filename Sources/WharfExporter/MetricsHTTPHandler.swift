import Foundation
import NIOCore
import NIOHTTP1
import WharfMetrics

/// Serves the metrics endpoints:
/// `GET /metrics` (Prometheus text), `GET /api/v1/snapshot` (JSON),
/// `GET /healthz` and `GET /readyz`. It sees only what `HTTPConnectionGuard`
/// (and `HTTPAuthorizationGate`, when credentials are required) let through:
/// whole requests, in order, with any body already discarded.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart

    /// The endpoints that only say whether the broker is up and ready.
    static let healthPaths: Set<String> = ["/healthz", "/readyz"]

    private let snapshot: @Sendable () -> MetricsSnapshot
    /// Nil when ready; otherwise why not, for `/readyz`'s body.
    private let notReady: @Sendable () -> String?
    private var request: HTTPRequestHead?

    init(snapshot: @escaping @Sendable () -> MetricsSnapshot, notReady: @escaping @Sendable () -> String?) {
        self.snapshot = snapshot
        self.notReady = notReady
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
            respond(to: head).write(to: context, answering: head)
        }
    }

    private func respond(to head: HTTPRequestHead) -> HTTPAnswer {
        guard head.method == .GET || head.method == .HEAD else {
            return HTTPAnswer(.methodNotAllowed, text: "only GET is supported")
        }
        switch head.path {
        case "/metrics":
            let openMetrics = PrometheusRenderer.wantsOpenMetrics(accept: head.headers.first(name: "Accept"))
            return HTTPAnswer(
                .ok, contentType: openMetrics ? PrometheusRenderer.openMetricsContentType : PrometheusRenderer.contentType,
                body: PrometheusRenderer.render(snapshot(), openMetrics: openMetrics)
            )
        case "/api/v1/snapshot":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(snapshot())) ?? Data("{}".utf8)
            return HTTPAnswer(.ok, contentType: "application/json", body: Array(json) + [UInt8(ascii: "\n")])
        case "/healthz":
            return HTTPAnswer(.ok, text: "ok")
        case "/readyz":
            guard let reason = notReady() else { return HTTPAnswer(.ok, text: "ready") }
            return HTTPAnswer(.serviceUnavailable, text: reason.isEmpty ? "not ready" : "not ready: \(reason)")
        default:
            return HTTPAnswer(.notFound, text: "not found; try /metrics, /api/v1/snapshot, /healthz or /readyz")
        }
    }
}
