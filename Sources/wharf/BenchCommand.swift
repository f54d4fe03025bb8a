import ArgumentParser
import Foundation
import WharfBench
import WharfTop

/// `wharf bench`: load-test any MQTT broker (Wharf, Mosquitto, ...).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure an MQTT broker's throughput and latency on loopback."
    )

    @Option(help: "Broker host (loopback only: this is a load generator).")
    var host = "127.0.0.1"

    @Option(help: "Broker port.")
    var port = 1883

    @Option(
        help: """
            fan-in-qos0 (many publishers, one subscriber), fan-out-qos0 (one publisher, many subscribers; deliveries/s), \
            one-to-one-qos1, shared-qos1 (one publisher, a $share group), durable-qos1 (QoS 1 publishers into one \
            subscriber with a persistent session), or fixed-rate-qos1 (one publisher at --rate; latency).
            """)
    var scenario: BenchScenario = .fanInQoS0

    @Option(help: "Publishers, for fan-in-qos0 (default 8) and durable-qos1 (default 4).")
    var publishers: Int?

    @Option(help: "Subscribers for fan-out-qos0 (default 16), group members for shared-qos1 (default 4).")
    var subscribers: Int?

    @Option(help: "Messages per publisher.")
    var messages = 50_000

    @Option(help: "Payload bytes, at least 16 (default 64; durable-qos1: 256).")
    var payload: Int?

    @Option(help: "QoS 1 messages a publisher keeps unacknowledged, at most.")
    var window = 100

    @Option(help: "fixed-rate-qos1: messages per second.")
    var rate = 10_000

    @Option(help: "Open this many idle connections (CONNECT, then nothing) first and hold them through the run.")
    var idleConnections = 0

    @Option(help: "The broker's process id: with --idle-connections, report its memory per idle connection (VmRSS).")
    var brokerPid: Int32?

    @Option(help: "Give up after this many seconds.")
    var timeout = 60

    @Option(help: "Stop once nothing has arrived for this many seconds.")
    var stallTimeout = 5.0

    @Option(help: "Connect over TLS, trusting this CA certificate file (PEM).")
    var caFile: String?

    @Option(
        help: ArgumentHelp(
            "Subscribers connect to this port (another cluster node): every message crosses nodes.",
            discussion: "Repeat it to spread the subscribers over several nodes, in turn (a consumer group's members)."))
    var subscriberPort: [Int] = []

    @Option(help: "Seconds to wait after subscribing before publishing (a cluster's route index spreading).")
    var settle = 0.0

    func run() async throws {
        guard host == "127.0.0.1" || host == "localhost" || host == "::1" else {
            throw ValidationError("bench sends load to loopback only")
        }
        if let publishers, publishers < 1 { throw ValidationError("--publishers must be at least 1") }
        if let subscribers, subscribers < 1 { throw ValidationError("--subscribers must be at least 1") }
        guard messages >= 1, messages <= Int(UInt32.max) else { throw ValidationError("--messages must be between 1 and \(UInt32.max)") }
        guard window >= 1, rate >= 1, idleConnections >= 0, timeout >= 1, stallTimeout > 0 else {
            throw ValidationError("--window, --rate, --timeout and --stall-timeout must be positive, --idle-connections not negative")
        }
        var runner = BenchRunner(
            host: host, port: port, scenario: scenario, publishers: publishers ?? scenario.defaultPublishers,
            subscribers: subscribers, messagesPerPublisher: messages, payloadSize: payload ?? scenario.defaultPayloadSize,
            window: window, rate: Double(rate), idleConnections: idleConnections, brokerPid: brokerPid,
            timeoutSeconds: timeout, stallSeconds: stallTimeout
        )
        if let caFile { runner.tls = try BenchRunner.clientTLS(trusting: caFile) }
        runner.subscriberPorts = subscriberPort
        runner.settleSeconds = max(0, settle)
        let result = try await runner.run()
        print(result.summary)
    }
}

extension BenchScenario: ExpressibleByArgument {}

/// `wharf bench-render`: how long `/metrics` takes to render for a big broker.
struct RenderBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-render",
        abstract: "Time rendering /metrics for a synthetic broker with many queues and topics."
    )

    @Option(help: "Persistent-session queues in the snapshot.")
    var queues = 1000

    @Option(help: "Per-topic series in the snapshot.")
    var topics = 100

    @Option(help: "Renders to time.")
    var runs = 50

    @Flag(help: "Render OpenMetrics instead of the 0.0.4 text format.")
    var openMetrics = false

    func run() {
        print(RenderBenchmark(queues: queues, topics: topics, runs: runs).run(openMetrics: openMetrics).summary)
    }
}

/// `wharf bench-top`: how long one dashboard refresh takes for a big broker.
struct TopBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-top",
        abstract: "Time building and diffing a wharf top frame for a synthetic broker with many queues."
    )

    @Option(help: "Queues in the snapshot.")
    var queues = 1000

    @Option(help: "Frames to time.")
    var frames = 50

    func run() {
        let result = FrameBenchmark.run(queues: queues, frames: frames)
        print(String(format: "frame_median_ms=%.2f frame_max_ms=%.2f queues=%d", result.medianMilliseconds, result.maxMilliseconds, queues))
    }
}
