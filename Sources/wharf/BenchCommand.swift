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

    @Option(help: """
        fan-in-qos0 (many publishers, one subscriber), one-to-one-qos1, shared-qos1 (one publisher, a group of four), \
        or durable-qos1 (QoS 1 publishers into one subscriber with a persistent session).
        """)
    var scenario: BenchScenario = .fanInQoS0

    @Option(help: "Publishers, for fan-in-qos0 (default 8) and durable-qos1 (default 4).")
    var publishers: Int?

    @Option(help: "Messages per publisher.")
    var messages = 50_000

    @Option(help: "Payload bytes (default 64; durable-qos1: 256).")
    var payload: Int?

    @Option(help: "Give up after this many seconds.")
    var timeout = 60

    func run() async throws {
        guard host == "127.0.0.1" || host == "localhost" || host == "::1" else {
            throw ValidationError("bench sends load to loopback only")
        }
        if let publishers, publishers < 1 { throw ValidationError("--publishers must be at least 1") }
        let result = try await BenchRunner(
            host: host, port: port, scenario: scenario, publishers: publishers ?? scenario.defaultPublishers,
            messagesPerPublisher: messages, payloadSize: payload ?? scenario.defaultPayloadSize, timeoutSeconds: timeout
        ).run()
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
