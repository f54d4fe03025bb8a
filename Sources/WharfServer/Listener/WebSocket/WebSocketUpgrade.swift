import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The HTTP side of an MQTT-over-WebSocket listener: a request may upgrade
/// when it asks for the listener's path and offers the `mqtt` subprotocol
/// (MQTT 5.0 section 6.0; `mqttv3.1` too, which older clients send). Every
/// other request is answered with the reason and closed.
enum WebSocketUpgrade {
    /// Subprotocols accepted, in preference order.
    static let subprotocols = ["mqtt", "mqttv3.1"]
    private static let refusalName = "wharf.websocket.refusal"

    /// Adds the HTTP handlers and the upgrader; `mqtt` adds the MQTT
    /// handlers after the frame codec once a request has upgraded.
    static func configure(
        _ channel: any Channel, path: String, maxFrameSize: Int, handshakeTimeout: TimeAmount, onRefusal: @escaping @Sendable () -> Void,
        mqtt: @escaping @Sendable (any Channel) throws -> Void
    ) throws {
        let refusal = WebSocketRefusalHandler(path: path, timeout: handshakeTimeout, onRefusal: onRefusal)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize,
            shouldUpgrade: { channel, head in
                channel.eventLoop.makeSucceededFuture(Self.acceptedHeaders(head, path: path))
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(WebSocketMQTTAdapter())
                    try mqtt(channel)
                }
            }
        )
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // Upgraded: the HTTP phase and its timeout are over.
                    context.pipeline.syncOperations.removeHandler(name: refusalName, promise: nil)
                }
            ))
        try pipeline.addHandler(refusal, name: refusalName)
    }

    /// The response headers for an acceptable upgrade request, or nil.
    static func acceptedHeaders(_ head: HTTPRequestHead, path: String) -> HTTPHeaders? {
        guard requestPath(head.uri) == path, let chosen = chosenSubprotocol(head.headers) else { return nil }
        return HTTPHeaders([("Sec-WebSocket-Protocol", chosen)])
    }

    /// The first subprotocol the client offers that MQTT accepts.
    static func chosenSubprotocol(_ headers: HTTPHeaders) -> String? {
        let offered = headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
        return subprotocols.first { offered.contains($0) }
    }

    static func requestPath(_ uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

/// Answers a request that did not upgrade with why (404 for another path,
/// 400 for a missing `mqtt` subprotocol or a plain HTTP request) and
/// closes; closes a connection that has not upgraded within the timeout.
final class WebSocketRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let path: String
    private let timeout: TimeAmount
    private let onRefusal: @Sendable () -> Void
    private var timer: Scheduled<Void>?
    private var answered = false

    init(path: String, timeout: TimeAmount, onRefusal: @escaping @Sendable () -> Void) {
        self.path = path
        self.timeout = timeout
        self.onRefusal = onRefusal
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !answered else { return }
        answered = true
        onRefusal()
        let (status, text): (HTTPResponseStatus, String)
        if WebSocketUpgrade.requestPath(head.uri) != path {
            (status, text) = (.notFound, "MQTT over WebSocket is served at \(path)\n")
        } else if !head.headers[canonicalForm: "Upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
            (status, text) = (.upgradeRequired, "this is an MQTT over WebSocket endpoint: upgrade to websocket with subprotocol mqtt\n")
        } else {
            (status, text) = (.badRequest, "the WebSocket subprotocol must be mqtt (Sec-WebSocket-Protocol: mqtt)\n")
        }
        var body = context.channel.allocator.buffer(capacity: text.utf8.count)
        body.writeString(text)
        var headers = HTTPHeaders([("Content-Type", "text/plain"), ("Connection", "close")])
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        if status == .upgradeRequired { headers.add(name: "Upgrade", value: "websocket") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
