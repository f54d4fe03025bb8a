/// Resource limits with defaults in line with Mosquitto and EMQX.
public struct BrokerLimits: Sendable, Hashable {
    /// Live connections; CONNECT beyond it gets return code 3 (server unavailable).
    public var maxConnections: Int = 10_000
    /// Largest packet accepted, fixed header included.
    public var maxPacketSize: Int = 1_048_576
    /// QoS 1/2 messages sent to one client and not yet acknowledged.
    public var maxInflightMessages: Int = 20
    /// Messages waiting per session (offline, or behind a full window); more are dropped and counted.
    public var maxQueuedMessages: Int = 1_000
    /// Levels in a topic name or filter (as EMQX's max_topic_levels). Bounds
    /// the trie's depth, and so the matcher's recursion.
    public var maxTopicLevels: Int = 128

    public init() {}
}
