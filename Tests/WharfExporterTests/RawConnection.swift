import NIOCore
import NIOPosix
import Synchronization

/// One HTTP response as it came off the wire.
struct RawResponse {
    let status: Int
    /// Lower-cased names.
    let headers: [String: String]
    let body: String
}

/// A TCP client that sends exactly the bytes it is given, keeps what comes back
/// and notices when the server closes: what a hostile client sees.
final class RawConnection: Sendable {
    private let channel: any Channel
    private let received: ReceivedBytes

    private init(channel: any Channel, received: ReceivedBytes) {
        self.channel = channel
        self.received = received
    }

    /// - Parameter reading: false leaves what the server sends unread, in the socket.
    static func open(port: Int, reading: Bool = true) async throws -> RawConnection {
        let received = ReceivedBytes()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: reading)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    var isOpen: Bool { channel.isActive }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Whether the server closes the connection within `limit`.
    func closed(within limit: Duration) async -> Bool {
        await poll(within: limit) { self.channel.isActive ? nil : true } ?? false
    }

    /// The next complete response, waiting up to `limit` for it.
    func nextResponse(within limit: Duration) async -> RawResponse? {
        await poll(within: limit) { self.nextBufferedResponse() }
    }

    /// The next complete response already received, if any; taken off the buffer.
    func nextBufferedResponse() -> RawResponse? {
        received.bytes.withLock { bytes in
            guard let response = Self.parse(bytes) else { return nil }
            bytes.removeFirst(response.length)
            return response.response
        }
    }

    /// The first non-nil result of `check`, tried every 10 ms for up to `limit`.
    func poll<T>(within limit: Duration, _ check: () -> T?) async -> T? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let value = check() { return value }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private static func parse(_ bytes: [UInt8]) -> (response: RawResponse, length: Int)? {
        let separator = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = headEnd + separator.count
        let bodyLength = headers["content-length"].flatMap { Int($0) } ?? 0
        guard bytes.count >= bodyStart + bodyLength else { return nil }
        let body = String(decoding: bytes[bodyStart..<(bodyStart + bodyLength)], as: UTF8.self)
        return (RawResponse(status: status, headers: headers, body: body), bodyStart + bodyLength)
    }
}

/// Everything the server sent on one connection, in order.
private final class ReceivedBytes: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let bytes = Mutex<[UInt8]>([])

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }
}
