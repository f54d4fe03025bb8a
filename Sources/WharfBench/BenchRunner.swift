import NIOCore
import NIOPosix
import WharfMQTT

/// Runs one bench scenario against a broker on loopback and measures it.
public struct BenchRunner: Sendable {
    public var host: String
    public var port: Int
    public var scenario: BenchScenario
    public var publishers: Int
    public var messagesPerPublisher: Int
    public var payloadSize: Int
    public var timeoutSeconds: Int

    public init(
        host: String, port: Int, scenario: BenchScenario, publishers: Int,
        messagesPerPublisher: Int, payloadSize: Int, timeoutSeconds: Int
    ) {
        self.host = host
        self.port = port
        self.scenario = scenario
        self.publishers = publishers
        self.messagesPerPublisher = messagesPerPublisher
        self.payloadSize = max(8, payloadSize)
        self.timeoutSeconds = timeoutSeconds
    }

    public func run() async throws -> BenchResult {
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
        let publisherCount = scenario.usesPublisherCount ? publishers : 1
        let qos: QoS = scenario == .fanInQoS0 ? .atMostOnce : .atLeastOnce
        let expected = publisherCount * messagesPerPublisher
        let stats = ReceiveStats(expected: expected)
        let runId = UInt32.random(in: 0...UInt32.max)

        // One subscriber, or four members of one consumer group sharing the work.
        let memberCount = scenario == .sharedQoS1 ? 4 : 1
        let filter = scenario == .sharedQoS1 ? "$share/bench-\(runId)/wharf-bench/\(runId)/#" : "wharf-bench/\(runId)/#"
        var subscribers: [Client] = []
        // The durable scenario's subscriber keeps a persistent session (one
        // client id for the whole run), so a durable broker stores what it queues.
        let persistent = scenario == .durableQoS1
        for index in 0..<memberCount {
            let subscriber = try await connect(
                group: group, clientId: "bench-sub-\(runId)-\(index)", cleanSession: !persistent, stats: stats
            )
            try await subscriber.channel.eventLoop.flatSubmit {
                let promise = subscriber.channel.eventLoop.makePromise(of: Void.self)
                subscriber.handler.value.subscribe(filter: filter, qos: qos, promise: promise)
                return promise.futureResult
            }.get()
            subscribers.append(subscriber)
        }

        var clients: [Client] = []
        for index in 0..<publisherCount {
            clients.append(try await connect(group: group, clientId: "bench-pub-\(runId)-\(index)", cleanSession: true, stats: nil))
        }

        let start = NIODeadline.now().uptimeNanoseconds
        for (index, client) in clients.enumerated() {
            let plan = BenchClientHandler.PublishPlan(
                topic: "wharf-bench/\(runId)/\(index)", qos: qos, count: messagesPerPublisher,
                payloadSize: payloadSize, window: 100
            )
            client.channel.eventLoop.execute {
                let promise = client.channel.eventLoop.makePromise(of: Void.self)
                client.handler.value.startPublishing(plan, promise: promise)
            }
        }

        // Wait until everything arrived, or nothing arrived for 2 s (QoS 0
        // may be dropped by a broker protecting itself), or the timeout.
        let deadline = start + UInt64(timeoutSeconds) * 1_000_000_000
        var lastCount = -1
        var lastProgress = start
        while true {
            try await Task.sleep(for: .milliseconds(20))
            let now = NIODeadline.now().uptimeNanoseconds
            let count = stats.count
            if count >= expected { break }
            if count != lastCount {
                lastCount = count
                lastProgress = now
            } else if now - lastProgress > 2_000_000_000 && count > 0 {
                break
            }
            if now > deadline { break }
        }
        let end = stats.count > 0 ? stats.lastReceiveNanos : NIODeadline.now().uptimeNanoseconds
        let percentiles = stats.percentiles([50, 99])
        for client in clients + subscribers { try? await client.channel.close() }
        if persistent {
            // Connecting again with clean session = 1 discards the persistent
            // session, so runs leave no queue (nor its log records) behind.
            for index in 0..<memberCount {
                if let cleanup = try? await connect(group: group, clientId: "bench-sub-\(runId)-\(index)", cleanSession: true, stats: nil) {
                    try? await cleanup.channel.close()
                }
            }
        }
        return BenchResult(
            scenario: scenario, sent: expected, received: stats.count,
            seconds: Double(end - start) / 1e9, latencyP50: percentiles[0], latencyP99: percentiles[1]
        )
    }

    struct Client: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<BenchClientHandler>
    }

    private func connect(group: any EventLoopGroup, clientId: String, cleanSession: Bool, stats: ReceiveStats?) async throws -> Client {
        let eventLoop = group.next()
        let connected = eventLoop.makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser(asClient: true)))
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        BenchClientHandler(clientId: clientId, cleanSession: cleanSession, connected: connected, stats: stats)
                    )
                }
            }
            .connect(host: host, port: port).get()
        try await connected.futureResult.get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: BenchClientHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return Client(channel: channel, handler: handler)
    }
}
