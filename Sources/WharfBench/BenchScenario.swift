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
