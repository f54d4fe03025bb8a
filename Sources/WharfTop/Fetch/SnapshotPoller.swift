import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import WharfMetrics

/// Polls each broker's `/api/v1/snapshot` every interval on its own event
/// loop, so a slow or dead broker never blocks the screen. The UI takes what
/// arrived with `take()`.
public final class SnapshotPoller: Sendable {
    public enum Update: Sendable {
        case snapshot(MetricsSnapshot)
        case failed(String)
    }

    private let endpoints: [SnapshotEndpoint]
    private let access: SnapshotAccess
    private let interval: TimeAmount
    private let group: MultiThreadedEventLoopGroup
    private let inbox = Mutex<[(Int, Update)]>([])
    private let tasks = Mutex<[RepeatedTask]>([])

    public init(endpoints: [SnapshotEndpoint], interval: TimeAmount, access: SnapshotAccess = SnapshotAccess()) {
        self.endpoints = endpoints
        self.access = access
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
        let access = self.access
        let failure = FetchFailure(endpoint: endpoint, sentToken: access.authorization != nil)
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if endpoint.usesTLS, let context = access.tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: endpoint.serverHostname))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(SnapshotResponseHandler(promise: promise, failure: failure))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.succeed(.failed(failure.describe(error)))
                case .success(let channel):
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                    headers.add(name: "Accept", value: "application/json")
                    headers.add(name: "Connection", value: "close")
                    if let authorization = access.authorization { headers.add(name: "Authorization", value: authorization) }
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
}

/// Collects one HTTP response and decodes the snapshot.
private final class SnapshotResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<SnapshotPoller.Update>
    private let failure: FetchFailure
    private var status: HTTPResponseStatus = .ok
    private var body = ByteBuffer()

    init(promise: EventLoopPromise<SnapshotPoller.Update>, failure: FetchFailure) {
        self.promise = promise
        self.failure = failure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard status == .ok else {
                promise.succeed(.failed(failure.describe(status)))
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
        promise.succeed(.failed(failure.describe(error)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(.failed(failure.closedEarly))
    }
}
