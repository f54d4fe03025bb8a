import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WharfMetrics

/// Where a broker's snapshot API lives: `http://host:port`.
public struct SnapshotEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var url: String { "http://\(host):\(port)" }

    /// Accepts `http://host:port`, `host:port` or `:port` (loopback).
    public init(parsing text: String) throws(EndpointError) {
        var rest = Substring(text)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        if rest.hasPrefix("https://") {
            throw EndpointError(text: text, problem: "https is not supported; the metrics listener speaks plain HTTP")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            throw EndpointError(text: text, problem: "expected http://HOST:PORT")
        }
        let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.host = host.isEmpty ? "127.0.0.1" : host
        self.port = port
    }
}

public struct EndpointError: Error, CustomStringConvertible {
    public var text: String
    public var problem: String
    public var description: String { "--url \(text): \(problem)" }
}

/// Polls each broker's `/api/v1/snapshot` every interval on its own event
/// loop, so a slow or dead broker never blocks the screen. The UI takes what
/// arrived with `take()`.
public final class SnapshotPoller: Sendable {
    public enum Update: Sendable {
        case snapshot(MetricsSnapshot)
        case failed(String)
    }

    private let endpoints: [SnapshotEndpoint]
    private let interval: TimeAmount
    private let group: MultiThreadedEventLoopGroup
    private let inbox = Mutex<[(Int, Update)]>([])
    private let tasks = Mutex<[RepeatedTask]>([])

    public init(endpoints: [SnapshotEndpoint], interval: TimeAmount) {
        self.endpoints = endpoints
        self.interval = interval
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    public func start() {
        let loop = group.next()
        for (index, endpoint) in endpoints.enumerated() {
            let task = loop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { [self] _ in
                fetch(endpoint, on: loop).map { update in
                    self.inbox.withLock { $0.append((index, update)) }
                }
            }
            tasks.withLock { $0.append(task) }
        }
    }

    /// Updates since the last call, in arrival order, by endpoint index.
    public func take() -> [(Int, Update)] {
        inbox.withLock { updates in
            defer { updates.removeAll() }
            return updates
        }
    }

    public func stop() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        try? group.syncShutdownGracefully()
    }

    /// One GET; never fails the future: errors become `.failed`.
    private func fetch(_ endpoint: SnapshotEndpoint, on loop: any EventLoop) -> EventLoopFuture<Update> {
        let promise = loop.makePromise(of: Update.self)
        let timeout = interval + .milliseconds(500)
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(SnapshotResponseHandler(promise: promise))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.succeed(.failed(Self.describe(error)))
                case .success(let channel):
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    headers.add(name: "Accept", value: "application/json")
                    headers.add(name: "Connection", value: "close")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/v1/snapshot", headers: headers)
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    // A broker that accepts but never answers must not hang the poll.
                    let timer = loop.scheduleTask(in: timeout) {
                        promise.succeed(.failed("no answer within \(timeout.nanoseconds / 1_000_000) ms"))
                        channel.close(promise: nil)
                    }
                    promise.futureResult.whenComplete { _ in
                        timer.cancel()
                        channel.close(promise: nil)
                    }
                }
            }
        return promise.futureResult
    }

    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return io.description }
        if error is NIOConnectionError || "\(error)".contains("connectionRefused") { return "connection refused" }
        return "\(error)"
    }
}

/// Collects one HTTP response and decodes the snapshot.
private final class SnapshotResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<SnapshotPoller.Update>
    private var status: HTTPResponseStatus = .ok
    private var body = ByteBuffer()

    init(promise: EventLoopPromise<SnapshotPoller.Update>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard status == .ok else {
                promise.succeed(.failed("HTTP \(status.code) from /api/v1/snapshot"))
                return
            }
            do {
                let snapshot = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(body.readableBytesView))
                promise.succeed(.snapshot(snapshot))
            } catch {
                promise.succeed(.failed("not a Wharf snapshot: \(error)"))
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(.failed(SnapshotPoller.describe(error)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(.failed("connection closed before a full answer"))
    }
}
