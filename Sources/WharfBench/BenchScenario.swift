import Foundation
import WharfMQTT

/// The load shapes `wharf bench` runs.
public enum BenchScenario: String, Sendable, CaseIterable {
    /// Many QoS 0 publishers into one wildcard subscriber (telemetry fan-in).
    case fanInQoS0 = "fan-in-qos0"
    /// One QoS 0 publisher to many subscribers of the same topics
    /// (broadcast); measured in deliveries per second.
    case fanOutQoS0 = "fan-out-qos0"
    /// One QoS 1 publisher to one QoS 1 subscriber (a reliable pipeline).
    case oneToOneQoS1 = "one-to-one-qos1"
    /// One QoS 1 publisher to a consumer group of QoS 1 members
    /// (`$share/...`, a work queue with competing consumers).
    case sharedQoS1 = "shared-qos1"
    /// QoS 1 publishers into one QoS 1 subscriber with a persistent
    /// session (clean session = 0): on a broker with a data directory every
    /// message is written to its log before it is acknowledged.
    case durableQoS1 = "durable-qos1"
    /// One QoS 1 publisher at a fixed rate to one QoS 1 subscriber: the
    /// latency distribution at a load the broker can sustain.
    case fixedRateQoS1 = "fixed-rate-qos1"

    /// Publishers when `--publishers` is not given (only fan-in and durable use several).
    public var defaultPublishers: Int {
        switch self {
        case .fanInQoS0: 8
        case .durableQoS1: 4
        case .oneToOneQoS1, .sharedQoS1, .fanOutQoS0, .fixedRateQoS1: 1
        }
    }

    /// Subscribers (fan-out) or group members (shared) when `--subscribers` is not given.
    public var defaultSubscribers: Int {
        switch self {
        case .fanOutQoS0: 16
        case .sharedQoS1: 4
        default: 1
        }
    }

    /// Payload bytes when `--payload` is not given: small telemetry, or a
    /// more typical business message for the durable scenario.
    public var defaultPayloadSize: Int { self == .durableQoS1 ? 256 : 64 }

    /// Whether the scenario takes `--publishers` (the others have one publisher).
    public var usesPublisherCount: Bool { self == .fanInQoS0 || self == .durableQoS1 }

    /// Whether the scenario takes `--subscribers` (the others have one subscriber).
    public var usesSubscriberCount: Bool { self == .fanOutQoS0 || self == .sharedQoS1 }

    var qos: QoS { self == .fanInQoS0 || self == .fanOutQoS0 ? .atMostOnce : .atLeastOnce }
}

/// What a run measured.
public struct BenchResult: Sendable {
    public var scenario: BenchScenario
    /// Messages the publishers wrote, and the QoS 1 ones the broker acknowledged.
    public var sent: Int
    public var acked: Int
    /// Deliveries a loss-free run makes (fan-out: one per subscriber per message).
    public var expected: Int
    /// First deliveries (fan-out: per subscriber); repeats are `duplicates`.
    public var received: Int
    public var duplicates: Int
    /// Deliveries that never came: for QoS 1, of messages the broker acknowledged;
    /// for QoS 0, of messages sent.
    public var lost: Int
    /// Payloads that were not the bench's (should be 0).
    public var stray: Int
    public var seconds: Double
    /// Publish-to-receive latency percentiles in microseconds.
    public var latencyP50: Double
    public var latencyP99: Double
    public var latencyMax: Double
    /// CPU this process used over the measurement, in percent of one core.
    public var clientCPUPercent: Double
    /// Fixed rate: how far the publisher fell behind its schedule at worst.
    public var maxLagMilliseconds: Double?
    /// Shared: the broker refused `$share` or delivered nothing through it.
    public var groupUnsupported = false
    public var idle: IdleReport?

    public struct IdleReport: Sendable {
        public var connections: Int
        /// The broker's VmRSS before opening them and once they were all up.
        public var rssBeforeKiB: Int?
        public var rssAfterKiB: Int?
        /// Idle connections the broker had closed by the end of the run.
        public var dropped: Int

        public var kibPerConnection: Double? {
            guard let before = rssBeforeKiB, let after = rssAfterKiB, connections > 0 else { return nil }
            return Double(after - before) / Double(connections)
        }
    }

    public var messagesPerSecond: Double { seconds > 0 ? Double(received) / seconds : 0 }

    /// One line of key=value pairs, easy for scripts to parse (each key
    /// appears once and none ends in another's name).
    public var summary: String {
        var line =
            "scenario=\(scenario.rawValue) sent=\(sent) acked=\(acked) expected=\(expected) received=\(received)"
            + " duplicates=\(duplicates) lost=\(lost) seconds=\(String(format: "%.3f", seconds))"
            + " msgs_per_sec=\(Int(messagesPerSecond)) p50_us=\(Int(latencyP50)) p99_us=\(Int(latencyP99)) max_us=\(Int(latencyMax))"
            + " client_cpu_pct=\(Int(clientCPUPercent.rounded()))"
        if stray > 0 { line += " stray=\(stray)" }
        if let maxLagMilliseconds { line += String(format: " lag_max_ms=%.1f", maxLagMilliseconds) }
        if groupUnsupported { line += " group=unsupported" }
        if let idle {
            line += " idle=\(idle.connections) idle_dropped=\(idle.dropped)"
            if let before = idle.rssBeforeKiB, let after = idle.rssAfterKiB, let per = idle.kibPerConnection {
                line += " rss_before_kib=\(before) rss_after_kib=\(after)" + String(format: " kib_per_conn=%.2f", per)
            }
        }
        return line
    }
}
