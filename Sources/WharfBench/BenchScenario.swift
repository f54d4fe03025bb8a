import Foundation

/// The load shapes `wharf bench` runs.
public enum BenchScenario: String, Sendable, CaseIterable {
    /// Many QoS 0 publishers into one wildcard subscriber (telemetry fan-in).
    case fanInQoS0 = "fan-in-qos0"
    /// One QoS 1 publisher to one QoS 1 subscriber (a reliable pipeline).
    case oneToOneQoS1 = "one-to-one-qos1"
    /// One QoS 1 publisher to a consumer group of four QoS 1 members
    /// (`$share/...`, a work queue with competing consumers).
    case sharedQoS1 = "shared-qos1"
    /// Four QoS 1 publishers into one QoS 1 subscriber with a persistent
    /// session (clean session = 0): on a broker with a data directory every
    /// message is written to its log before it is acknowledged.
    case durableQoS1 = "durable-qos1"

    /// Publishers when `--publishers` is not given (only fan-in and durable use several).
    public var defaultPublishers: Int {
        switch self {
        case .fanInQoS0: 8
        case .durableQoS1: 4
        case .oneToOneQoS1, .sharedQoS1: 1
        }
    }

    /// Payload bytes when `--payload` is not given: small telemetry, or a
    /// more typical business message for the durable scenario.
    public var defaultPayloadSize: Int { self == .durableQoS1 ? 256 : 64 }

    /// Whether the scenario takes `--publishers` (the others have one publisher).
    var usesPublisherCount: Bool { self == .fanInQoS0 || self == .durableQoS1 }
}

/// What a run measured.
public struct BenchResult: Sendable {
    public var scenario: BenchScenario
    public var sent: Int
    public var received: Int
    public var seconds: Double
    /// Publish-to-receive latency percentiles in microseconds.
    public var latencyP50: Double
    public var latencyP99: Double

    public var messagesPerSecond: Double { seconds > 0 ? Double(received) / seconds : 0 }

    /// One line of key=value pairs, easy for scripts to parse.
    public var summary: String {
        "scenario=\(scenario.rawValue) sent=\(sent) received=\(received) seconds=\(String(format: "%.3f", seconds)) "
            + "msgs_per_sec=\(Int(messagesPerSecond)) p50_us=\(Int(latencyP50)) p99_us=\(Int(latencyP99))"
    }
}
