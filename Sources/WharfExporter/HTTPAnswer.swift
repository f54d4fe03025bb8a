import NIOCore
import NIOHTTP1

/// One whole answer, as the endpoints and the authorization gate write it:
/// sized, and closing the connection after it when the request asked to.
struct HTTPAnswer {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]
    /// Sent besides Content-Type, Content-Length and Connection.
    var headers: [(String, String)] = []

    init(_ status: HTTPResponseStatus, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A plain-text answer; `text` gets a line end.
    init(_ status: HTTPResponseStatus, text: String, headers: [(String, String)] = []) {
        self.init(status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8), headers: headers)
    }

    /// Writes it as the answer to `request` (no body for HEAD).
    func write(to context: ChannelHandlerContext, answering request: HTTPRequestHead) {
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        var fields = HTTPHeaders()
        fields.add(name: "Content-Type", value: contentType)
        fields.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        for (name, value) in headers { fields.add(name: name, value: value) }
        let keepAlive = request.isKeepAlive
        if !keepAlive { fields.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: status, headers: fields)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        if request.method != .HEAD { context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil) }
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
