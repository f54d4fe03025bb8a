import NIOCore
import NIOPosix
import NIOSSL
import WharfMQTT

/// Runs one bench scenario against a broker on loopback and measures it.
public struct BenchRunner: Sendable {
    public var host: String
    public var port: Int
    public var scenario: BenchScenario
    public var publishers: Int
    /// Fan-out subscribers, or members of the shared scenario's group.
    public var subscribers: Int
    public var messagesPerPublisher: Int
    public var payloadSize: Int
    /// QoS 1 messages a publisher keeps unacknowledged, at most.
    public var window: Int
    /// Fixed-rate scenario: messages per second.
    public var rate: Double
    /// Connections opened (CONNECT, then nothing) before the measurement and
    /// held through it.
    public var idleConnections: Int
    /// The broker's process id, to read its memory before and after the idle connections.
    public var brokerPid: Int32?
    /// Give up after this long, whatever happened.
    public var timeoutSeconds: Int
    /// Stop when nothing arrived for this long (QoS 0 may be dropped; a broker
    /// without `$share` delivers nothing to the group).
    public var stallSeconds: Double
    /// Every client connects over TLS with this context; nil: plain TCP
    /// (see `clientTLS(trusting:)`).
    public var tls: NIOSSLContext?
    /// Subscribers connect here instead of `port`: another node of a
    /// cluster, so every message crosses from the publishers' node. With
    /// several, subscriber `i` takes port `i % count` (a consumer group's
    /// members spread over nodes).
    public var subscriberPorts: [Int] = []
    /// Time after the subscriptions for the publishers' node to learn of
    /// them (cluster mode's route index is replicated, not instant).
    public var settleSeconds = 0.0

    public init(
        host: String, port: Int, scenario: BenchScenario, publishers: Int, subscribers: Int? = nil,
        messagesPerPublisher: Int, payloadSize: Int, window: Int = 100, rate: Double = 10_000,
        idleConnections: Int = 0, brokerPid: Int32? = nil, timeoutSeconds: Int, stallSeconds: Double = 5
    ) {
        self.host = host
        self.port = port
        self.scenario = scenario
        self.publishers = scenario.usesPublisherCount ? publishers : 1
        self.subscribers = scenario.usesSubscriberCount ? (subscribers ?? scenario.defaultSubscribers) : 1
        self.messagesPerPublisher = messagesPerPublisher
        self.payloadSize = max(BenchPayload.headerSize, payloadSize)
        self.window = window
        self.rate = rate
        self.idleConnections = idleConnections
        self.brokerPid = brokerPid
        self.timeoutSeconds = timeoutSeconds
        self.stallSeconds = stallSeconds
    }

    /// A client TLS context trusting the CA bundle (PEM) in `caFile`.
    public static func clientTLS(trusting caFile: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caFile)
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// Latencies kept per subscriber, at most: bounds memory on long runs.
    static let latencyCapacity = 2_000_000

    public func run() async throws -> BenchResult {
        // Two loops (this machine class has two cores); connections spread over both.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            let result = try await run(on: group)
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(on group: MultiThreadedEventLoopGroup) async throws -> BenchResult {
        let runId = UInt32.random(in: 0...UInt32.max)
        var idle = IdleConnections(host: host, port: port, runId: runId, tls: tls)
        var idleReport: BenchResult.IdleReport?
        if idleConnections > 0 {
            // Every connection is a descriptor here (and at the broker: the script raises its limit).
            try ProcessProbe.ensureFileDescriptors(idleConnections + publishers + subscribers + 256)
            let before = brokerPid.flatMap(ProcessProbe.residentKiB)
            try await idle.open(idleConnections, group: group)
            // Give the broker a moment to finish whatever a connect leaves for later.
            try await Task.sleep(for: .seconds(1))
            let after = brokerPid.flatMap(ProcessProbe.residentKiB)
            idleReport = .init(connections: idleConnections, rssBeforeKiB: before, rssAfterKiB: after, dropped: 0)
        }
        do {
            var result = try await measure(on: group, runId: runId)
            idleReport?.dropped = idle.closedCount
            result.idle = idleReport
            await idle.closeAll()
            return result
        } catch {
            await idle.closeAll()
            throw error
        }
    }

    private func measure(on group: MultiThreadedEventLoopGroup, runId: UInt32) async throws -> BenchResult {
        let qos = scenario.qos
        let progress = ReceiveProgress()
        let isGroup = scenario == .sharedQoS1
        let filter = isGroup ? "$share/bench-\(runId)/wharf-bench/\(runId)/#" : "wharf-bench/\(runId)/#"
        // The durable scenario's subscriber keeps a persistent session (one
        // client id for the whole run), so a durable broker stores what it queues.
        let persistent = scenario == .durableQoS1
        // Every subscriber gets every message, except a group's members, who share them.
        let expected = publishers * messagesPerPublisher * (isGroup ? 1 : subscribers)

        var subscriberClients: [Client] = []
        var publisherClients: [Client] = []
        func closeAll() async {
            for client in publisherClients + subscriberClients { try? await client.channel.close() }
        }
        do {
            for index in 0..<subscribers {
                let subscriber = try await connect(
                    group: group, port: subscriberPorts.isEmpty ? port : subscriberPorts[index % subscriberPorts.count],
                    clientId: "bench-sub-\(runId)-\(index)", cleanSession: !persistent,
                    deliveries: Deliveries(
                        publishers: publishers, messagesPerPublisher: messagesPerPublisher, latencyCapacity: Self.latencyCapacity
                    ),
                    progress: progress
                )
                subscriberClients.append(subscriber)
                let granted = try await subscriber.channel.eventLoop.flatSubmit {
                    let promise = subscriber.channel.eventLoop.makePromise(of: Bool.self)
                    subscriber.handler.value.subscribe(filter: filter, qos: qos, promise: promise)
                    return promise.futureResult
                }.get()
                if !granted {
                    guard isGroup else { throw BenchError.subscribeRefused(filter) }
                    // A broker without shared subscriptions: nothing to measure.
                    await closeAll()
                    return unsupportedGroupResult(expected: expected)
                }
            }
            for index in 0..<publishers {
                publisherClients.append(
                    try await connect(
                        group: group, clientId: "bench-pub-\(runId)-\(index)", cleanSession: true, deliveries: nil, progress: nil)
                )
            }
        } catch {
            await closeAll()
            throw error
        }
        if settleSeconds > 0 { try await Task.sleep(for: .milliseconds(Int64(settleSeconds * 1000))) }

        let cpuStart = ProcessProbe.cpuNanos()
        let start = NIODeadline.now().uptimeNanoseconds
        for (index, client) in publisherClients.enumerated() {
            let plan = BenchClientHandler.PublishPlan(
                topic: "wharf-bench/\(runId)/\(index)", qos: qos, publisher: UInt32(index), count: messagesPerPublisher,
                payloadSize: payloadSize, window: window, rate: scenario == .fixedRateQoS1 ? rate : nil
            )
            client.channel.eventLoop.execute { client.handler.value.startPublishing(plan) }
        }

        // Wait until everything arrived, or nothing arrived for `stallSeconds`,
        // or the timeout.
        let deadline = start + UInt64(timeoutSeconds) * 1_000_000_000
        let stallNanos = UInt64(stallSeconds * 1e9)
        var lastTotal = 0
        var lastProgress = start
        while true {
            try await Task.sleep(for: .milliseconds(20))
            let now = NIODeadline.now().uptimeNanoseconds
            if progress.unique >= expected || now > deadline { break }
            let total = progress.total
            if total != lastTotal {
                lastTotal = total
                lastProgress = now
            } else if now - lastProgress > stallNanos {
                break
            }
        }
        let cpuEnd = ProcessProbe.cpuNanos()
        let waitedUntil = NIODeadline.now().uptimeNanoseconds
        let end = progress.lastReceiveNanos > 0 ? progress.lastReceiveNanos : NIODeadline.now().uptimeNanoseconds

        // Acknowledgements first: a message acknowledged after the subscribers
        // were read could not have been delivered yet, and is not lost.
        var published: [BenchClientHandler.PublishProgress] = []
        for client in publisherClients {
            published.append(try await client.channel.eventLoop.submit { client.handler.value.published }.get())
        }
        var received: [Deliveries] = []
        for client in subscriberClients {
            if let deliveries = try await client.channel.eventLoop.submit({ client.handler.value.deliveries }).get() {
                received.append(deliveries)
            }
        }
        await closeAll()
        if persistent {
            // Connecting again with clean session = 1 discards the persistent
            // session, so runs leave no queue (nor its log records) behind.
            for index in 0..<subscribers {
                if let cleanup = try? await connect(
                    group: group, clientId: "bench-sub-\(runId)-\(index)", cleanSession: true, deliveries: nil, progress: nil
                ) {
                    try? await cleanup.channel.close()
                }
            }
        }

        var result = tally(published: published, received: received, isGroup: isGroup, expected: expected)
        result.seconds = Double(end - start) / 1e9
        result.clientCPUPercent = Double(cpuEnd - cpuStart) / Double(max(1, waitedUntil - start)) * 100
        if scenario == .fixedRateQoS1 {
            result.maxLagMilliseconds = Double(published.map(\.maxLagNanos).max() ?? 0) / 1e6
        }
        result.groupUnsupported = isGroup && result.received == 0
        return result
    }

    /// Lost, duplicated and received counts, and latency percentiles, from
    /// what publishers sent and subscribers got.
    private func tally(
        published: [BenchClientHandler.PublishProgress], received: [Deliveries], isGroup: Bool, expected: Int
    ) -> BenchResult {
        // QoS 1: a message is owed once the broker acknowledged it (PUBACKs
        // come in publish order, so those are the first `acked`). QoS 0: once sent.
        let owed = published.map { scenario.qos == .atMostOnce ? $0.sent : $0.acked }
        var unique = 0
        var lost = 0
        let total = received.reduce(0) { $0 + $1.total }
        let stray = received.reduce(0) { $0 + $1.stray }
        if isGroup {
            // Members share the stream: count the union once.
            let merged = Deliveries.union(received)
            if let words = received.first?.wordsPerPublisher {
                for (publisher, limit) in owed.enumerated() {
                    lost += Deliveries.missing(in: merged, offset: publisher * words, below: min(limit, messagesPerPublisher))
                    unique += messagesPerPublisher - Deliveries.missing(in: merged, offset: publisher * words, below: messagesPerPublisher)
                }
            }
        } else {
            for deliveries in received {
                unique += deliveries.unique
                for (publisher, limit) in owed.enumerated() { lost += deliveries.missing(publisher: publisher, below: limit) }
            }
        }
        var latencies = received.flatMap(\.latencies)
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int(p / 100 * Double(latencies.count)))]) / 1000
        }
        return BenchResult(
            scenario: scenario, sent: published.reduce(0) { $0 + $1.sent }, acked: published.reduce(0) { $0 + $1.acked },
            expected: expected, received: unique, duplicates: total - stray - unique, lost: lost, stray: stray, seconds: 0,
            latencyP50: percentile(50), latencyP99: percentile(99), latencyMax: Double(latencies.last ?? 0) / 1000,
            clientCPUPercent: 0
        )
    }

    private func unsupportedGroupResult(expected: Int) -> BenchResult {
        BenchResult(
            scenario: scenario, sent: 0, acked: 0, expected: expected, received: 0, duplicates: 0, lost: 0, stray: 0,
            seconds: 0, latencyP50: 0, latencyP99: 0, latencyMax: 0, clientCPUPercent: 0, groupUnsupported: true
        )
    }

    struct Client: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<BenchClientHandler>
    }

    func connect(
        group: any EventLoopGroup, port: Int? = nil, clientId: String, cleanSession: Bool, keepAlive: UInt16 = 60,
        deliveries: Deliveries?, progress: ReceiveProgress?
    ) async throws -> Client {
        let tls = self.tls
        let eventLoop = group.next()
        let connected = eventLoop.makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            BenchClientHandler(
                                clientId: clientId, cleanSession: cleanSession, keepAlive: keepAlive, connected: connected,
                                deliveries: deliveries, progress: progress
                            )
                        )
                    }
                }
                .connect(host: host, port: port ?? self.port).get()
        } catch {
            connected.fail(error)
            throw error
        }
        do {
            try await connected.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: BenchClientHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return Client(channel: channel, handler: handler)
    }
}
