/// Resource limits with defaults in line with Mosquitto and EMQX.
public struct BrokerLimits: Sendable, Hashable {
    /// Live connections; CONNECT beyond it gets return code 3 (server unavailable).
    public var maxConnections: Int = 10_000
    /// Largest packet accepted, fixed header included (told to 5.0 clients).
    public var maxPacketSize: Int = 1_048_576
    /// QoS 1/2 messages sent to one client and not yet acknowledged (a 5.0
    /// client's receive maximum may lower it for its connection).
    public var maxInflightMessages: Int = 20
    /// Messages waiting per session (offline, or behind a full window); more are dropped and counted.
    public var maxQueuedMessages: Int = 1_000
    /// Levels in a topic name or filter (as EMQX's max_topic_levels). Bounds
    /// the trie's depth, and so the matcher's recursion.
    public var maxTopicLevels: Int = 128
    /// 5.0: QoS 2 messages a client may have awaiting PUBREL (the server's
    /// receive maximum, told in CONNACK); more is a protocol violation (0x93).
    public var receiveMaximum: Int = 65_535
    /// 5.0: topic aliases a client may set on its publishes (Mosquitto's
    /// default is 10 too); 0 turns inbound aliases off.
    public var topicAliasMaximum: Int = 10
    /// Caps a client's keep-alive (5.0 clients are told the cap as Server
    /// Keep Alive); 0 leaves the client's value.
    public var maxKeepAlive: Int = 0
    /// Topic filters looked at in one SUBSCRIBE; those past it are not added
    /// and get 0x97 Quota exceeded (3.1.1 clients see 0x80). A 1 MiB packet
    /// carries about 40,000 short filters, each a trie insert and a retained
    /// lookup on the connection's event loop. Real clients send far fewer:
    /// most one or a handful, AWS IoT Core accepts at most 8, and the
    /// largest batches we know of are Home Assistant's resubscriptions after
    /// a reconnect, 500 filters per SUBSCRIBE (`MAX_SUBSCRIBES_PER_CALL`).
    /// 1,000 is twice that, and bounds what one packet can cost the loop.
    /// 0: no limit.
    public var maxFiltersPerSubscribe: Int = 1_000
    /// Subscriptions one session may hold (shared ones included); a new
    /// filter past it gets 0x97 and is not added. A subscription to a filter
    /// the session already has replaces it and never counts twice. As EMQX's
    /// `max_subscriptions`: a bound on one client's share of the trie and on
    /// what a session takeover or expiry must remove. The busiest real
    /// clients subscribe per entity (Home Assistant: a state and an
    /// availability topic each), a few thousand on a large install; raise it
    /// for more. 0: no limit.
    public var maxSubscriptionsPerClient: Int = 10_000

    public init() {}
}

/// How the broker retries what consumers refuse, and how long it remembers
/// publishers' message ids.
public struct DeliverySettings: Sendable, Hashable {
    /// Backoff before redelivering a negatively acknowledged message: the
    /// first retry waits `retryBackoffMinimum` seconds, each further one
    /// twice as long, never more than `retryBackoffMaximum`; each wait is
    /// stretched by a random 0-50% (within the maximum), so refused messages
    /// do not all come back in lockstep.
    public var retryBackoffMinimum: Double = 1
    public var retryBackoffMaximum: Double = 60
    /// Seconds a `wharf-msg-id` is remembered per topic: a repeat within it
    /// is acknowledged but not routed again.
    public var dedupWindow: Double = 300
    /// Most ids remembered at once; beyond it the oldest are forgotten early
    /// (a bound on memory, counted nowhere because it only shortens the window).
    public var dedupCapacity: Int = 1_000_000

    public init() {}

    /// The wait before delivery attempt `attempts + 1`, jittered.
    public func backoffNanos(afterAttempts attempts: Int, random: Double = Double.random(in: 1...1.5)) -> UInt64 {
        let exponent = Double(max(0, min(attempts - 1, 30)))
        let seconds = min(retryBackoffMaximum, retryBackoffMinimum * pow2(exponent) * random)
        return UInt64(max(0, seconds) * 1e9)
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }
}
