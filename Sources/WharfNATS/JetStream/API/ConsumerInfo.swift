/// The reply of CONSUMER.CREATE and CONSUMER.INFO: the config as stored
/// (server defaults filled in) and how far the consumer has got.
public struct ConsumerInfo: Sendable, Hashable, Codable {
    public var streamName: String
    public var name: String
    public var created: JetStreamTimestamp
    public var config: ConsumerConfig
    /// The last message handed out.
    public var delivered: SequenceInfo
    /// Everything up to here is acknowledged.
    public var ackFloor: SequenceInfo
    public var numAckPending: Int
    public var numRedelivered: Int
    /// Pull requests waiting for messages.
    public var numWaiting: Int
    /// Messages in the stream matching the filter not yet delivered.
    public var numPending: UInt64
    public var cluster: ClusterInfo?
    /// A push consumer with someone subscribed to its deliver subject.
    public var pushBound: Bool

    public init(
        streamName: String, name: String, created: JetStreamTimestamp, config: ConsumerConfig,
        delivered: SequenceInfo = SequenceInfo(), ackFloor: SequenceInfo = SequenceInfo(), numAckPending: Int = 0,
        numRedelivered: Int = 0, numWaiting: Int = 0, numPending: UInt64 = 0, cluster: ClusterInfo? = nil, pushBound: Bool = false
    ) {
        self.streamName = streamName
        self.name = name
        self.created = created
        self.config = config
        self.delivered = delivered
        self.ackFloor = ackFloor
        self.numAckPending = numAckPending
        self.numRedelivered = numRedelivered
        self.numWaiting = numWaiting
        self.numPending = numPending
        self.cluster = cluster
        self.pushBound = pushBound
    }

    enum CodingKeys: String, CodingKey {
        case streamName = "stream_name"
        case name, created, config, delivered
        case ackFloor = "ack_floor"
        case numAckPending = "num_ack_pending"
        case numRedelivered = "num_redelivered"
        case numWaiting = "num_waiting"
        case numPending = "num_pending"
        case cluster
        case pushBound = "push_bound"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        streamName = try container.decode(String.self, forKey: .streamName)
        name = try container.decode(String.self, forKey: .name)
        created = try container.decode(JetStreamTimestamp.self, forKey: .created)
        config = try container.decode(ConsumerConfig.self, forKey: .config)
        delivered = try container.decodeIfPresent(SequenceInfo.self, forKey: .delivered) ?? SequenceInfo()
        ackFloor = try container.decodeIfPresent(SequenceInfo.self, forKey: .ackFloor) ?? SequenceInfo()
        numAckPending = try container.decodeIfPresent(Int.self, forKey: .numAckPending) ?? 0
        numRedelivered = try container.decodeIfPresent(Int.self, forKey: .numRedelivered) ?? 0
        numWaiting = try container.decodeIfPresent(Int.self, forKey: .numWaiting) ?? 0
        numPending = try container.decodeIfPresent(UInt64.self, forKey: .numPending) ?? 0
        cluster = try container.decodeIfPresent(ClusterInfo.self, forKey: .cluster)
        pushBound = try container.decodeIfPresent(Bool.self, forKey: .pushBound) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(streamName, forKey: .streamName)
        try container.encode(name, forKey: .name)
        try container.encode(created, forKey: .created)
        try container.encode(config, forKey: .config)
        try container.encode(delivered, forKey: .delivered)
        try container.encode(ackFloor, forKey: .ackFloor)
        try container.encode(numAckPending, forKey: .numAckPending)
        try container.encode(numRedelivered, forKey: .numRedelivered)
        try container.encode(numWaiting, forKey: .numWaiting)
        try container.encode(numPending, forKey: .numPending)
        try container.encodeIfPresent(cluster, forKey: .cluster)
        try container.encodeIfTrue(pushBound, forKey: .pushBound)
    }
}

/// A position in both the consumer's and the stream's numbering.
public struct SequenceInfo: Sendable, Hashable, Codable {
    public var consumerSequence: UInt64
    public var streamSequence: UInt64
    /// When this position last moved; absent before the first delivery.
    public var lastActive: JetStreamTimestamp?

    public init(consumerSequence: UInt64 = 0, streamSequence: UInt64 = 0, lastActive: JetStreamTimestamp? = nil) {
        self.consumerSequence = consumerSequence
        self.streamSequence = streamSequence
        self.lastActive = lastActive
    }

    enum CodingKeys: String, CodingKey {
        case consumerSequence = "consumer_seq"
        case streamSequence = "stream_seq"
        case lastActive = "last_active"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        consumerSequence = try container.decodeIfPresent(UInt64.self, forKey: .consumerSequence) ?? 0
        streamSequence = try container.decodeIfPresent(UInt64.self, forKey: .streamSequence) ?? 0
        lastActive = try container.decodeIfPresent(JetStreamTimestamp.self, forKey: .lastActive)
    }
}
