import NIOCore
import NIOPosix
import NIOSSL

/// Connections that CONNECT and then say nothing, held open while a scenario
/// runs: what many quiet devices cost a broker in memory and in latency.
struct IdleConnections {
    let host: String
    let port: Int
    let runId: UInt32
    /// Over TLS as the run's other clients, when they are.
    let tls: NIOSSLContext?
    private(set) var channels: [any Channel] = []

    /// CONNECTs waiting for their CONNACK at once: enough to open 10,000 in a
    /// few seconds, few enough to stay under a broker's limit on connections
    /// that have not finished connecting (Wharf's max_pending_connections, 1,000).
    static let concurrency = 64
    /// Long enough that no broker expects a PINGREQ during a run.
    static let keepAlive: UInt16 = 3_600

    init(host: String, port: Int, runId: UInt32, tls: NIOSSLContext?) {
        self.tls = tls
        self.host = host
        self.port = port
        self.runId = runId
    }

    /// Opens `count` connections spread over the group's loops; on the first
    /// failure closes those already open and says which one failed.
    mutating func open(_ count: Int, group: any EventLoopGroup) async throws {
        var runner = BenchRunner(
            host: host, port: port, scenario: .oneToOneQoS1, publishers: 1, messagesPerPublisher: 0, payloadSize: 0, timeoutSeconds: 0
        )
        runner.tls = tls
        let connector = runner
        let runId = self.runId
        // Children report failures as values, so the group drains every
        // connect before it returns and none is left open behind an error.
        let (opened, failure) = await withTaskGroup(of: Result<any Channel, BenchError>.self) { tasks in
            func add(_ index: Int) {
                tasks.addTask {
                    do {
                        return .success(
                            try await connector.connect(
                                group: group, clientId: "bench-idle-\(runId)-\(index)", cleanSession: true,
                                keepAlive: Self.keepAlive, deliveries: nil, progress: nil
                            ).channel
                        )
                    } catch {
                        return .failure(BenchError.idleConnection(index: index, of: count, underlying: error))
                    }
                }
            }
            var opened: [any Channel] = []
            opened.reserveCapacity(count)
            var failure: BenchError?
            var next = 0
            while next < min(count, Self.concurrency) {
                add(next)
                next += 1
            }
            while let outcome = await tasks.next() {
                switch outcome {
                case .success(let channel): opened.append(channel)
                case .failure(let error): failure = failure ?? error
                }
                if failure == nil && next < count {
                    add(next)
                    next += 1
                }
            }
            return (opened, failure)
        }
        channels = opened
        if let failure {
            await closeAll()
            throw failure
        }
    }

    /// Connections the broker has closed since they were opened.
    var closedCount: Int { channels.reduce(0) { $0 + ($1.isActive ? 0 : 1) } }

    mutating func closeAll() async {
        // Closed all at once, then awaited: one by one, 10,000 take long.
        let closes = channels.map { channel in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            channel.close(promise: promise)
            return promise.futureResult
        }
        for close in closes { try? await close.get() }
        channels = []
    }
}
