import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WharfTestSupport

@testable import WharfNATS

/// The connection against real nats-servers (`NATSTestCluster`): the shared
/// three-server cluster for what needs no failures, a cluster of its own
/// where a server is killed.
@Suite(.timeLimit(.minutes(2))) struct NATSConnectionTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    static func connect(_ urls: [String], name: String = "test", configure: (inout NATSConnectionOptions) -> Void = { _ in })
        async throws -> NATSConnection
    {
        var options = try NATSConnectionOptions(urls: urls, name: name)
        options.shuffleServers = false
        // JetStream answers (R3 stream and bucket changes) beside the other
        // suites' servers can take more than the default 5 s on a 2-core
        // machine; the tests check what the answers say, not how fast they
        // come. A test of the timeout itself passes its own.
        options.requestTimeout = .seconds(15)
        configure(&options)
        let connection = try NATSConnection(options: options, eventLoop: group.next())
        try await connection.waitUntilConnected()
        return connection
    }

    static func unique(_ prefix: String) -> String { "\(prefix).\(UUID().uuidString.prefix(8))" }

    /// A subscription's interest reaches the other servers over their routes
    /// a moment after its SUB (under load, long enough to drop hundreds of
    /// messages published at once): publishes "probe" to `subject` until
    /// `arrived()` says one came back. Handlers set it and skip probes.
    static func awaitInterest(_ publisher: NATSConnection, _ subject: String, arrived: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !arrived() {
            guard ContinuousClock.now < deadline else {
                Issue.record("interest in \(subject) never reached the publisher's server")
                throw CancellationError()
            }
            try publisher.publish(subject, payload: ByteBuffer(string: "probe"))
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Splits probes from messages: `(probes, messages)`.
    static func probing(_ probes: Inbox<Bool>, _ body: @escaping @Sendable (NATSMessage) -> Void) -> NATSConnection.MessageHandler {
        { message in
            if String(buffer: message.payload) == "probe" {
                probes.add(true)
            } else {
                body(message)
            }
        }
    }

    @Test func publishAndSubscribeInOrder() async throws {
        let cluster = NATSTestCluster.shared
        let subscriber = try await Self.connect([cluster.clientURLs[0]])
        let publisher = try await Self.connect([cluster.clientURLs[1]])
        defer {
            Task {
                await subscriber.close()
                await publisher.close()
            }
        }
        let subject = Self.unique("order")
        let received = Inbox<String>()
        let probes = Inbox<Bool>()
        _ = try subscriber.subscribe(subject, handler: Self.probing(probes) { received.add(String(buffer: $0.payload)) })
        try await Self.awaitInterest(publisher, subject) { probes.count > 0 }
        for index in 0..<2_000 { try publisher.publish(subject, payload: ByteBuffer(string: "\(index)")) }
        let messages = try await received.wait(for: 2_000)
        #expect(messages == (0..<2_000).map(String.init))
    }

    @Test func headersCrossTheServer() async throws {
        let cluster = NATSTestCluster.shared
        let connection = try await Self.connect([cluster.clientURLs[0]])
        let other = try await Self.connect([cluster.clientURLs[2]])
        defer {
            Task {
                await connection.close()
                await other.close()
            }
        }
        let subject = Self.unique("headers")
        let received = Inbox<NATSMessage>()
        let probes = Inbox<Bool>()
        _ = try connection.subscribe(subject, handler: Self.probing(probes) { received.add($0) })
        try await Self.awaitInterest(other, subject) { probes.count > 0 }
        var headers = NATSHeaders()
        headers.append("Wharf-Topic", "a/b c")
        headers.append("Wharf-QoS", "1")
        try other.publish(subject, replyTo: "reply.here", headers: headers, payload: ByteBuffer(string: "body"))
        let message = try #require(try await received.wait(for: 1).first)
        #expect(message.headers?["Wharf-Topic"] == "a/b c")
        #expect(message.headers?["Wharf-QoS"] == "1")
        #expect(message.replyTo == "reply.here")
        #expect(String(buffer: message.payload) == "body")
    }

    @Test func requestReplyTimeoutAndNoResponders() async throws {
        let cluster = NATSTestCluster.shared
        let responder = try await Self.connect([cluster.clientURLs[1]])
        let requester = try await Self.connect([cluster.clientURLs[0]])
        defer {
            Task {
                await responder.close()
                await requester.close()
            }
        }
        let subject = Self.unique("echo")
        _ = try responder.subscribe(subject) { message in
            guard let reply = message.replyTo else { return }
            try? responder.publish(reply, payload: ByteBuffer(string: "re: " + String(buffer: message.payload)))
        }
        let silent = Self.unique("silent")
        _ = try responder.subscribe(silent) { _ in }
        _ = try await responder.flush()

        // The responder's interest reaches the requester's server over a
        // route a moment after its SUB: until then the answer is 503.
        var answer = ""
        for _ in 0..<100 where answer.isEmpty {
            let reply: Result<NATSMessage, NATSError> = await withCheckedContinuation { continuation in
                requester.request(subject, payload: ByteBuffer(string: "hi")) { continuation.resume(returning: $0) }
            }
            switch reply {
            case .success(let message): answer = String(buffer: message.payload)
            case .failure(.noResponders): try await Task.sleep(for: .milliseconds(20))
            case .failure(let error): throw error
            }
        }
        #expect(answer == "re: hi")
        // Many in flight at once, answered to the right callers.
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<200 {
                tasks.addTask {
                    let answer = try await requester.request(subject, payload: ByteBuffer(string: "\(index)"))
                    #expect(String(buffer: answer.payload) == "re: \(index)")
                }
            }
            try await tasks.waitForAll()
        }
        await #expect(throws: NATSError.timeout) {
            _ = try await requester.request(silent, timeout: .milliseconds(200))
        }
        await #expect(throws: NATSError.noResponders) {
            _ = try await requester.request(Self.unique("nobody"), timeout: .seconds(2))
        }
        #expect(requester.statistics.pendingRequests == 0)
    }

    @Test func queueGroupSharesMessages() async throws {
        let cluster = NATSTestCluster.shared
        let first = try await Self.connect([cluster.clientURLs[0]])
        let second = try await Self.connect([cluster.clientURLs[1]])
        let publisher = try await Self.connect([cluster.clientURLs[2]])
        defer {
            Task {
                await first.close()
                await second.close()
                await publisher.close()
            }
        }
        let subject = Self.unique("queue")
        let received = Inbox<String>()
        let firstProbes = Inbox<Bool>()
        let secondProbes = Inbox<Bool>()
        _ = try first.subscribe(
            subject, queue: "workers", handler: Self.probing(firstProbes) { received.add("first:" + String(buffer: $0.payload)) })
        _ = try second.subscribe(
            subject, queue: "workers", handler: Self.probing(secondProbes) { received.add("second:" + String(buffer: $0.payload)) })
        // Both members' interest must have reached the publisher's server.
        try await Self.awaitInterest(publisher, subject) { firstProbes.count > 0 && secondProbes.count > 0 }
        for index in 0..<400 { try publisher.publish(subject, payload: ByteBuffer(string: "\(index)")) }
        let messages = try await received.wait(for: 400)
        let payloads = messages.map { $0.split(separator: ":")[1] }
        #expect(Set(payloads).count == 400, "each message went to exactly one member")
        #expect(messages.contains { $0.hasPrefix("first:") } && messages.contains { $0.hasPrefix("second:") })
    }

    @Test func unsubscribeAfterAMaximum() async throws {
        let cluster = NATSTestCluster.shared
        let connection = try await Self.connect([cluster.clientURLs[0]])
        let publisher = try await Self.connect([cluster.clientURLs[0]])
        defer {
            Task {
                await connection.close()
                await publisher.close()
            }
        }
        let subject = Self.unique("max")
        let received = Inbox<String>()
        let subscription = try connection.subscribe(subject) { received.add(String(buffer: $0.payload)) }
        subscription.unsubscribe(after: 3)
        _ = try await connection.flush()
        for index in 0..<10 { try publisher.publish(subject, payload: ByteBuffer(string: "\(index)")) }
        _ = try await publisher.flush()
        _ = try await connection.flush()
        #expect(try await received.wait(for: 3) == ["0", "1", "2"])
        try await Task.sleep(for: .milliseconds(200))
        #expect(received.count == 3)
        #expect(connection.statistics.subscriptions == 0)
    }

    @Test func flushMeasuresTheRoundTrip() async throws {
        let connection = try await Self.connect([NATSTestCluster.shared.clientURLs[0]])
        defer { Task { await connection.close() } }
        let roundTrip = try await connection.flush()
        #expect(roundTrip > .zero && roundTrip < .seconds(1))
        #expect(connection.statistics.roundTrip == roundTrip)
        #expect(connection.serverInfo?.jetStream == true)
    }

    @Test func firstConnectFailsWhenNoServerAnswers() async throws {
        // A port nothing listens on: bind one and close it.
        let port = try freeTCPPort()
        var options = try NATSConnectionOptions(urls: ["nats://127.0.0.1:\(port)"])
        options.maxConnectRounds = 2
        options.reconnectWait = .milliseconds(50)
        let connection = try NATSConnection(options: options, eventLoop: Self.group.next())
        await #expect(throws: NATSError.self) { try await connection.waitUntilConnected() }
        #expect(connection.status == .closed)
    }

    /// Given one server's URL, the connection learns the others from INFO;
    /// when its server dies it moves to another, subscriptions re-made, and
    /// what was published while it had no server goes out after.
    @Test func reconnectsToAnotherServerAndResubscribes() async throws {
        let cluster = try NATSTestCluster.start(servers: 3)
        defer { cluster.shutdown() }
        let statuses = Inbox<String>()
        var options = try NATSConnectionOptions(urls: [cluster.clientURLs[0]], name: "mover")
        options.reconnectWait = .milliseconds(100)
        let mover = try NATSConnection(options: options, eventLoop: Self.group.next()) { statuses.add("\($0)") }
        try await mover.waitUntilConnected()
        let other = try await Self.connect([cluster.clientURLs[2]])
        defer {
            Task {
                await mover.close()
                await other.close()
            }
        }
        #expect(mover.serverInfo?.connectURLs?.count == 3)

        let subject = Self.unique("moved")
        let received = Inbox<String>()
        let probes = Inbox<Bool>()
        _ = try mover.subscribe(subject, handler: Self.probing(probes) { received.add(String(buffer: $0.payload)) })
        try await Self.awaitInterest(other, subject) { probes.count > 0 }
        try other.publish(subject, payload: ByteBuffer(string: "before"))
        #expect(try await received.wait(for: 1) == ["before"])

        cluster.kill(0)
        try await statuses.wait { $0.contains { $0.hasPrefix("reconnecting") } && $0.last?.hasPrefix("connected") == true }
        #expect(!mover.status.description.contains(":\(cluster.clientPorts[0])"))
        #expect(mover.statistics.reconnects == 1)
        // Made again on the new server: its interest travels again.
        let before = probes.count
        try await Self.awaitInterest(other, subject) { probes.count > before }
        try other.publish(subject, payload: ByteBuffer(string: "after"))
        #expect(try await received.wait(for: 2) == ["before", "after"])
    }

    /// What was published while the connection had no server goes out in
    /// one write after the handshake. Past the channel's high-water mark,
    /// that write told the connection at once that the channel was full,
    /// while the handshake still held its lock: a Wharf node crashed with
    /// "Recursive call to lock Mutex" in a chaos run.
    @Test func reconnectsWithABacklogPastTheHighWaterMark() async throws {
        let cluster = try NATSTestCluster.start(servers: 3)
        defer { cluster.shutdown() }
        let statuses = Inbox<String>()
        let failures = Inbox<String>()
        // The backlog is published from the status handler, on the loop
        // before the reconnect starts: another server of the cluster takes
        // the connection within milliseconds, before a test could see it
        // was without one.
        let subject = Self.unique("backlog")
        let payload = ByteBuffer(repeating: 0x61, count: 4_096)
        let publisherSlot = Slot<NATSConnection>()
        var options = try NATSConnectionOptions(urls: [cluster.clientURLs[0]], name: "backlog")
        options.reconnectWait = .seconds(1)
        let publisher = try NATSConnection(options: options, eventLoop: Self.group.next()) { status in
            statuses.add("\(status)")
            guard case .reconnecting = status, let publisher = publisherSlot.value else { return }
            // 256 KiB waiting, four times NIO's default high-water mark.
            for _ in 0..<64 {
                do { try publisher.publish(subject, payload: payload) } catch { failures.add("\(error)") }
            }
        }
        let reader = try await Self.connect([cluster.clientURLs[2]])
        defer {
            Task {
                await publisher.close()
                await reader.close()
            }
        }
        try await publisher.waitUntilConnected()
        let received = Inbox<Int>()
        let probes = Inbox<Bool>()
        _ = try reader.subscribe(subject, handler: Self.probing(probes) { received.add($0.payload.readableBytes) })
        try await Self.awaitInterest(publisher, subject) { probes.count > 0 }

        publisherSlot.value = publisher
        cluster.kill(0)
        try await statuses.wait { $0.count >= 3 && $0.last?.hasPrefix("connected") == true }
        let sizes = try await received.wait(for: 64)
        #expect(sizes.count == 64 && sizes.allSatisfy { $0 == 4_096 })
        #expect(failures.count == 0)
    }
}

/// One value that handlers on other threads read.
final class Slot<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Collects values from handlers on other threads for a test to wait on.
final class Inbox<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func add(_ value: Value) { values.withLock { $0.append(value) } }

    var count: Int { values.withLock { $0.count } }

    /// Waits (bounded) until `count` values arrived; returns them.
    func wait(for count: Int, timeout: Duration = .seconds(15)) async throws -> [Value] {
        try await wait(timeout: timeout) { $0.count >= count }
    }

    @discardableResult
    func wait(timeout: Duration = .seconds(15), until done: ([Value]) -> Bool) async throws -> [Value] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = values.withLock { $0 }
            if done(snapshot) { return snapshot }
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting; have \(snapshot.count): \(snapshot.suffix(5))")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

func freeTCPPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress!.port!
    try channel.close().wait()
    return port
}
