import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WharfMetrics

@testable import WharfExporter

/// The metrics listener against hostile and sloppy clients, over real sockets
/// on 127.0.0.1 with short limits. Time bounds are generous (the machine is
/// shared); lower bounds show that a timer, not something else, did the work.
@Suite(.serialized) struct MetricsServerLimitsTests {
    static let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static let short = MetricsServer.Limits(
        maxConnections: 8, requestReadTimeout: .milliseconds(500), idleTimeout: .seconds(10),
        maxRequestBodyBytes: 1024, maxHeaderBytes: 1024
    )

    /// A head that never ends gets 408 and a close once the read deadline passes.
    @Test func slowHeadersGet408ThenClose() async throws {
        try await withServer(Self.short) { server, port in
            // On a loaded machine the open and the send can be far apart: a
            // connection the server already closed as idle is tried again.
            var opened: (RawConnection, ContinuousClock.Instant)?
            for _ in 0..<3 where opened == nil {
                let client = try await RawConnection.open(port: port)
                let started = ContinuousClock.now
                if (try? await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")) != nil { opened = (client, started) }
            }
            let (client, started) = try #require(opened)
            let response = try #require(await client.nextResponse(within: .seconds(5)))
            #expect(response.status == 408)
            #expect(response.headers["connection"] == "close")
            #expect(await client.closed(within: .seconds(5)))
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            #expect(server.limitCounts.requestTimeouts == 1)
        }
    }

    /// A byte every 100 ms does not move the deadline: it counts from the first byte.
    @Test func drippedHeadersDoNotExtendTheDeadline() async throws {
        try await withServer(Self.short) { server, port in
            let client = try await RawConnection.open(port: port)
            // Dripped whole, the head takes over 7 s; a deadline the drip
            // kept moving would let all of it through. Counted in bytes, not
            // seconds, so a busy machine's slow sleeps do not fail it.
            let head = "GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            var sent = 0
            for byte in head {
                guard client.isOpen else { break }
                try? await client.send(String(byte))
                sent += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(await client.closed(within: .seconds(5)))
            #expect(sent < head.count, "closed while the head was still dripping: \(sent) of \(head.count) bytes sent")
            #expect(client.nextBufferedResponse()?.status == 408)
            #expect(server.limitCounts.requestTimeouts == 1)
        }
    }

    /// A keep-alive connection with no next request is closed after the idle timeout.
    @Test func idleKeepAliveConnectionCloses() async throws {
        var limits = Self.short
        limits.idleTimeout = .milliseconds(500)
        try await withServer(limits) { server, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
            #expect(await client.closed(within: .seconds(5)))
            #expect(server.limitCounts.idleConnectionsClosed == 1)
        }
    }

    /// At the cap, a new connection closes the least recently active one and is served.
    @Test func capEvictsTheLeastRecentlyActiveConnection() async throws {
        var limits = Self.short
        limits.maxConnections = 3
        try await withServer(limits) { server, port in
            var idle: [RawConnection] = []
            for _ in 0..<3 {
                idle.append(try await RawConnection.open(port: port))
                try await Task.sleep(for: .milliseconds(20))
            }
            // The oldest one stays in use, so the second is now the least active.
            try await idle[0].send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await idle[0].nextResponse(within: .seconds(5))?.status == 200)
            let newcomer = try await RawConnection.open(port: port)
            #expect(await idle[1].closed(within: .seconds(5)))
            try await newcomer.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await newcomer.nextResponse(within: .seconds(5))?.status == 200)
            #expect(idle[0].isOpen && idle[2].isOpen)
            #expect(server.limitCounts.evictedConnections == 1)
            #expect(server.limitCounts.openConnections == 3)
        }
    }

    /// Many more idle connections than the cap do not keep /healthz from answering.
    @Test func healthzAnswersPastACapFullOfIdleConnections() async throws {
        var limits = Self.short
        limits.maxConnections = 4
        try await withServer(limits) { server, port in
            var idle: [RawConnection] = []
            for _ in 0..<20 { idle.append(try await RawConnection.open(port: port)) }
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try #require(await client.nextResponse(within: .seconds(2)))
            #expect(response.status == 200 && response.body == "ok\n")
            #expect(server.limitCounts.openConnections <= 4)
            #expect(server.limitCounts.evictedConnections == 17)
        }
    }

    /// Bytes that are not HTTP get 400 and a close.
    @Test func malformedRequestGets400ThenClose() async throws {
        try await withServer(Self.short) { server, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("HELLO THERE\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 400)
            #expect(await client.closed(within: .seconds(5)))
            #expect(server.limitCounts.malformedRequests == 1)
        }
    }

    /// Headers past `maxHeaderBytes` get 431 and a close.
    @Test func oversizedHeadersGet431ThenClose() async throws {
        try await withServer(Self.short) { server, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 4000))\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 431)
            #expect(await client.closed(within: .seconds(5)))
            #expect(server.limitCounts.oversizedHeaders == 1)
        }
    }

    /// A chunk size of 2^64-1 is refused at once (413), long before any deadline.
    @Test func hugeChunkSizeIsRefusedAtOnce() async throws {
        var limits = Self.short
        limits.requestReadTimeout = .seconds(30)
        try await withServer(limits) { server, port in
            let client = try await RawConnection.open(port: port)
            let started = ContinuousClock.now
            try await client.send("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 413)
            #expect(await client.closed(within: .seconds(5)))
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(server.limitCounts.oversizedBodies == 1)
        }
    }

    /// A declared body over `maxRequestBodyBytes` gets 413 and a close, even while it is being sent.
    @Test func bodyOverTheLimitGets413ThenClose() async throws {
        try await withServer(Self.short) { server, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "b", count: 5000))
            #expect(await client.nextResponse(within: .seconds(5))?.status == 413)
            #expect(await client.closed(within: .seconds(5)))
            #expect(server.limitCounts.oversizedBodies == 1)
        }
    }

    /// A small body is read and thrown away; the connection stays usable.
    @Test func smallBodyIsDiscardedAndTheConnectionKept() async throws {
        try await withServer(Self.short) { _, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
        }
    }

    /// 404 is an ordinary answer: the connection stays open for the next request.
    @Test func notFoundKeepsTheConnection() async throws {
        try await withServer(Self.short) { _, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 404)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
        }
    }

    /// Pipelined requests, sent in one write, are answered in order.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer(Self.short) { _, port in
            let client = try await RawConnection.open(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await client.nextResponse(within: .seconds(5))?.body == "ok\n")
            #expect(await client.nextResponse(within: .seconds(5))?.body == "ready\n")
        }
    }

    /// A client that pipelines requests and never reads the answers is cut off
    /// once answers pile up, instead of having them buffered without bound.
    @Test func unreadAnswersCloseTheConnection() async throws {
        try await withServer(Self.short) { server, port in
            let client = try await RawConnection.open(port: port, reading: false)
            let request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            // The server may cut the connection before all of it is sent: a
            // reset on this side is that cut, not a failure.
            try? await client.send(String(repeating: request, count: 10_000))
            let closed = await client.poll(within: .seconds(10)) { server.limitCounts.openConnections == 0 ? true : nil }
            #expect(closed == true)
            #expect(server.limitCounts.unreadResponseCloses == 1)
        }
    }

    /// The snapshot is built on the listener's own loop, never on one of the
    /// broker's (here, a group standing in for the MQTT loops).
    @Test func snapshotIsBuiltOnTheListenersOwnLoop() async throws {
        let brokerGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let onBrokerLoop = LastValue<Bool>()
        let brokerLoop = brokerGroup.next()
        let server = MetricsServer(
            logger: Self.quietLogger,
            snapshot: {
                onBrokerLoop.set(brokerLoop.inEventLoop || MultiThreadedEventLoopGroup.currentEventLoop == nil)
                return PrometheusRendererTests.snapshot
            },
            isReady: { true }
        )
        let port = try await server.start(host: "127.0.0.1", port: 0)
        let client = try await RawConnection.open(port: port)
        try await client.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let status = await client.nextResponse(within: .seconds(5))?.status
        await server.stop()
        try await brokerGroup.shutdownGracefully()
        #expect(status == 200)
        #expect(onBrokerLoop.value == false)
    }

    private func withServer(_ limits: MetricsServer.Limits, _ body: (MetricsServer, Int) async throws -> Void) async throws {
        let server = MetricsServer(
            logger: Self.quietLogger, limits: limits,
            snapshot: { PrometheusRendererTests.snapshot }, isReady: { true }
        )
        let port = try await server.start(host: "127.0.0.1", port: 0)
        do {
            try await body(server, port)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

/// The last value a closure on another thread saw.
private final class LastValue<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)
    var value: Value? { stored.withLock { $0 } }
    func set(_ value: Value) { stored.withLock { $0 = value } }
}
