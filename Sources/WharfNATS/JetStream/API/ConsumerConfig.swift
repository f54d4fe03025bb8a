/// A consumer's configuration: inside CONSUMER.CREATE's body and in every
/// consumer info.
///
/// Optional members are omitted from the JSON when nil, and false flags
/// likewise, as the server writes them. The server fills some of them in
/// (2.9.10 `setConsumerConfigDefaults`): a pull consumer gets
/// `max_waiting` 512, an acking one `ack_wait` 30 s (or `backoff[0]`) and
/// `max_ack_pending` 1000, and `max_deliver` becomes -1; so the config read
/// back can hold more than the one sent.
public struct ConsumerConfig: Sendable, Hashable {
    /// The consumer's name. With `durableName` the two must be equal.
    public var name: String?
    /// Set for a consumer that lives until deleted; without it the consumer
    /// goes away after `inactiveThreshold` with no one pulling.
    public var durableName: String?
    public var description: String?
    public var deliverPolicy: DeliverPolicy
    public var optStartSequence: UInt64?
    public var optStartTime: JetStreamTimestamp?
    /// Always sent. Defaults to `.explicit` here, what cluster mode uses;
    /// a config without the member means `.none` to the server.
    public var ackPolicy: AckPolicy
    /// Redelivery after this long without an ack.
    public var ackWait: Duration?
    /// Deliveries before the server gives up on a message; -1 for no limit.
    public var maxDeliver: Int?
    /// Successive redelivery delays; needs `maxDeliver` above its count.
    public var backoff: [Duration]?
    public var filterSubject: String?
    public var replayPolicy: ReplayPolicy
    /// Pull requests the server keeps waiting at once.
    public var maxWaiting: Int?
    /// Unacknowledged messages out at once before delivery pauses.
    public var maxAckPending: Int?
    /// Largest `batch` a pull request may ask for.
    public var maxBatch: Int?
    /// Longest `expires` a pull request may ask for.
    public var maxExpires: Duration?
    /// How long an ephemeral consumer survives without activity.
    public var inactiveThreshold: Duration?
    /// 0 means the stream's replica count.
    public var replicas: Int
    /// Keep the consumer's state in memory even on a file stream (cheap
    /// R1 readers).
    public var memoryStorage: Bool
    /// Deliver headers and the payload size, not the payload.
    public var headersOnly: Bool
    /// Push consumers only.
    public var idleHeartbeat: Duration?
    /// Push consumers only; needs `idleHeartbeat`.
    public var flowControl: Bool
    /// Makes a push consumer: where the server sends messages. Nil for pull.
    public var deliverSubject: String?

    public init(
        name: String? = nil, durableName: String? = nil, description: String? = nil, deliverPolicy: DeliverPolicy = .all,
        optStartSequence: UInt64? = nil, optStartTime: JetStreamTimestamp? = nil, ackPolicy: AckPolicy = .explicit,
        ackWait: Duration? = nil, maxDeliver: Int? = nil, backoff: [Duration]? = nil, filterSubject: String? = nil,
        replayPolicy: ReplayPolicy = .instant, maxWaiting: Int? = nil, maxAckPending: Int? = nil, maxBatch: Int? = nil,
        maxExpires: Duration? = nil, inactiveThreshold: Duration? = nil, replicas: Int = 0, memoryStorage: Bool = false,
        headersOnly: Bool = false, idleHeartbeat: Duration? = nil, flowControl: Bool = false, deliverSubject: String? = nil
    ) {
        self.name = name
        self.durableName = durableName
        self.description = description
        self.deliverPolicy = deliverPolicy
        self.optStartSequence = optStartSequence
        self.optStartTime = optStartTime
        self.ackPolicy = ackPolicy
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
        self.backoff = backoff
        self.filterSubject = filterSubject
        self.replayPolicy = replayPolicy
        self.maxWaiting = maxWaiting
        self.maxAckPending = maxAckPending
        self.maxBatch = maxBatch
        self.maxExpires = maxExpires
        self.inactiveThreshold = inactiveThreshold
        self.replicas = replicas
        self.memoryStorage = memoryStorage
        self.headersOnly = headersOnly
        self.idleHeartbeat = idleHeartbeat
        self.flowControl = flowControl
        self.deliverSubject = deliverSubject
    }
}

extension ConsumerConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case name
        case durableName = "durable_name"
        case description
        case deliverPolicy = "deliver_policy"
        case optStartSequence = "opt_start_seq"
        case optStartTime = "opt_start_time"
        case ackPolicy = "ack_policy"
        case ackWait = "ack_wait"
        case maxDeliver = "max_deliver"
        case backoff
        case filterSubject = "filter_subject"
        case replayPolicy = "replay_policy"
        case maxWaiting = "max_waiting"
        case maxAckPending = "max_ack_pending"
        case maxBatch = "max_batch"
        case maxExpires = "max_expires"
        case inactiveThreshold = "inactive_threshold"
        case replicas = "num_replicas"
        case memoryStorage = "mem_storage"
        case headersOnly = "headers_only"
        case idleHeartbeat = "idle_heartbeat"
        case flowControl = "flow_control"
        case deliverSubject = "deliver_subject"
    }

    /// Missing members take the value the server means by their absence.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        durableName = try container.decodeIfPresent(String.self, forKey: .durableName)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        deliverPolicy = try container.decodeIfPresent(DeliverPolicy.self, forKey: .deliverPolicy) ?? .all
        optStartSequence = try container.decodeIfPresent(UInt64.self, forKey: .optStartSequence)
        optStartTime = try container.decodeIfPresent(JetStreamTimestamp.self, forKey: .optStartTime)
        ackPolicy = try container.decodeIfPresent(AckPolicy.self, forKey: .ackPolicy) ?? .none
        ackWait = try container.decodeNonZeroNanosecondsIfPresent(forKey: .ackWait)
        maxDeliver = try container.decodeIfPresent(Int.self, forKey: .maxDeliver)
        backoff = try container.decodeNanosecondsArrayIfPresent(forKey: .backoff)
        filterSubject = try container.decodeIfPresent(String.self, forKey: .filterSubject)
        replayPolicy = try container.decodeIfPresent(ReplayPolicy.self, forKey: .replayPolicy) ?? .instant
        maxWaiting = try container.decodeIfPresent(Int.self, forKey: .maxWaiting)
        maxAckPending = try container.decodeIfPresent(Int.self, forKey: .maxAckPending)
        maxBatch = try container.decodeIfPresent(Int.self, forKey: .maxBatch)
        maxExpires = try container.decodeNonZeroNanosecondsIfPresent(forKey: .maxExpires)
        inactiveThreshold = try container.decodeNonZeroNanosecondsIfPresent(forKey: .inactiveThreshold)
        replicas = try container.decodeIfPresent(Int.self, forKey: .replicas) ?? 0
        memoryStorage = try container.decodeIfPresent(Bool.self, forKey: .memoryStorage) ?? false
        headersOnly = try container.decodeIfPresent(Bool.self, forKey: .headersOnly) ?? false
        idleHeartbeat = try container.decodeNonZeroNanosecondsIfPresent(forKey: .idleHeartbeat)
        flowControl = try container.decodeIfPresent(Bool.self, forKey: .flowControl) ?? false
        deliverSubject = try container.decodeIfPresent(String.self, forKey: .deliverSubject)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(durableName, forKey: .durableName)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(deliverPolicy, forKey: .deliverPolicy)
        try container.encodeIfPresent(optStartSequence, forKey: .optStartSequence)
        try container.encodeIfPresent(optStartTime, forKey: .optStartTime)
        try container.encode(ackPolicy, forKey: .ackPolicy)
        try container.encodeNanosecondsIfPresent(ackWait, forKey: .ackWait)
        try container.encodeIfPresent(maxDeliver, forKey: .maxDeliver)
        try container.encodeNanosecondsIfPresent(backoff, forKey: .backoff)
        try container.encodeIfPresent(filterSubject, forKey: .filterSubject)
        try container.encode(replayPolicy, forKey: .replayPolicy)
        try container.encodeIfPresent(maxWaiting, forKey: .maxWaiting)
        try container.encodeIfPresent(maxAckPending, forKey: .maxAckPending)
        try container.encodeIfPresent(maxBatch, forKey: .maxBatch)
        try container.encodeNanosecondsIfPresent(maxExpires, forKey: .maxExpires)
        try container.encodeNanosecondsIfPresent(inactiveThreshold, forKey: .inactiveThreshold)
        try container.encode(replicas, forKey: .replicas)
        try container.encodeIfTrue(memoryStorage, forKey: .memoryStorage)
        try container.encodeIfTrue(headersOnly, forKey: .headersOnly)
        try container.encodeNanosecondsIfPresent(idleHeartbeat, forKey: .idleHeartbeat)
        try container.encodeIfTrue(flowControl, forKey: .flowControl)
        try container.encodeIfPresent(deliverSubject, forKey: .deliverSubject)
    }
}
