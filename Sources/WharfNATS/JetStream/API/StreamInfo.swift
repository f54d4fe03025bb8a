/// The body of STREAM.INFO: which subjects to count, and whether to list
/// deleted sequences. Both cost the server a walk of the stream, so they
/// are off unless asked.
public struct StreamInfoRequest: Sendable, Hashable, Codable {
    /// Fills `StreamState.subjects` with the count of each subject matching
    /// this filter (`wq.s.>` gives every session queue's depth).
    public var subjectsFilter: String?
    public var deletedDetails: Bool
    /// For more than `StreamInfo.limit` (100,000) matching subjects: where
    /// the next page of subjects starts.
    public var offset: Int

    public init(subjectsFilter: String? = nil, deletedDetails: Bool = false, offset: Int = 0) {
        self.subjectsFilter = subjectsFilter
        self.deletedDetails = deletedDetails
        self.offset = offset
    }

    enum CodingKeys: String, CodingKey {
        case subjectsFilter = "subjects_filter"
        case deletedDetails = "deleted_details"
        case offset
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subjectsFilter = try container.decodeIfPresent(String.self, forKey: .subjectsFilter)
        deletedDetails = try container.decodeIfPresent(Bool.self, forKey: .deletedDetails) ?? false
        offset = try container.decodeIfPresent(Int.self, forKey: .offset) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(subjectsFilter, forKey: .subjectsFilter)
        try container.encodeIfTrue(deletedDetails, forKey: .deletedDetails)
        if offset != 0 { try container.encode(offset, forKey: .offset) }
    }
}

/// The reply of STREAM.INFO, STREAM.CREATE and STREAM.UPDATE.
public struct StreamInfo: Sendable, Hashable, Codable {
    /// As stored, the server's defaults filled in.
    public var config: StreamConfig
    public var created: JetStreamTimestamp
    public var state: StreamState
    public var cluster: ClusterInfo?
    public var domain: String?
    /// Paging of `state.subjects` when a subjects filter was asked: how many
    /// subjects matched, where this page starts and how long pages are.
    /// Zero otherwise.
    public var total: Int
    public var offset: Int
    public var limit: Int
    /// True only on a create that made the stream. Absent on the reply to a
    /// clustered create of an existing identical stream; a single 2.9.10
    /// server says true there too, so do not rely on it.
    public var didCreate: Bool

    public init(
        config: StreamConfig, created: JetStreamTimestamp, state: StreamState = StreamState(), cluster: ClusterInfo? = nil,
        domain: String? = nil, total: Int = 0, offset: Int = 0, limit: Int = 0, didCreate: Bool = false
    ) {
        self.config = config
        self.created = created
        self.state = state
        self.cluster = cluster
        self.domain = domain
        self.total = total
        self.offset = offset
        self.limit = limit
        self.didCreate = didCreate
    }

    enum CodingKeys: String, CodingKey {
        case config, created, state, cluster, domain, total, offset, limit
        case didCreate = "did_create"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        config = try container.decode(StreamConfig.self, forKey: .config)
        created = try container.decode(JetStreamTimestamp.self, forKey: .created)
        state = try container.decode(StreamState.self, forKey: .state)
        cluster = try container.decodeIfPresent(ClusterInfo.self, forKey: .cluster)
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
        total = try container.decodeIfPresent(Int.self, forKey: .total) ?? 0
        offset = try container.decodeIfPresent(Int.self, forKey: .offset) ?? 0
        limit = try container.decodeIfPresent(Int.self, forKey: .limit) ?? 0
        didCreate = try container.decodeIfPresent(Bool.self, forKey: .didCreate) ?? false
    }

    /// As the server writes it (for fake servers in tests).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(config, forKey: .config)
        try container.encode(created, forKey: .created)
        try container.encode(state, forKey: .state)
        try container.encodeIfPresent(cluster, forKey: .cluster)
        try container.encodeIfPresent(domain, forKey: .domain)
        if limit != 0 {
            try container.encode(total, forKey: .total)
            try container.encode(offset, forKey: .offset)
            try container.encode(limit, forKey: .limit)
        }
        try container.encodeIfTrue(didCreate, forKey: .didCreate)
    }

    /// Whether more matching subjects remain beyond this page.
    public var hasMoreSubjects: Bool { offset + (state.subjects?.count ?? 0) < total }
}

/// How much a stream holds right now.
public struct StreamState: Sendable, Hashable, Codable {
    public var messages: UInt64
    public var bytes: UInt64
    /// 0 for an empty stream that never held anything; otherwise the
    /// sequence the next stored message would have when empty.
    public var firstSequence: UInt64
    /// `JetStreamTimestamp.zero` when empty.
    public var firstTime: JetStreamTimestamp
    public var lastSequence: UInt64
    public var lastTime: JetStreamTimestamp
    public var numSubjects: Int
    /// Count per subject, only when STREAM.INFO asked with a subjects filter.
    public var subjects: [String: UInt64]?
    public var numDeleted: Int
    /// Only when STREAM.INFO asked for deleted details.
    public var deleted: [UInt64]?
    public var consumerCount: Int

    public init(
        messages: UInt64 = 0, bytes: UInt64 = 0, firstSequence: UInt64 = 0, firstTime: JetStreamTimestamp = .zero,
        lastSequence: UInt64 = 0, lastTime: JetStreamTimestamp = .zero, numSubjects: Int = 0, subjects: [String: UInt64]? = nil,
        numDeleted: Int = 0, deleted: [UInt64]? = nil, consumerCount: Int = 0
    ) {
        self.messages = messages
        self.bytes = bytes
        self.firstSequence = firstSequence
        self.firstTime = firstTime
        self.lastSequence = lastSequence
        self.lastTime = lastTime
        self.numSubjects = numSubjects
        self.subjects = subjects
        self.numDeleted = numDeleted
        self.deleted = deleted
        self.consumerCount = consumerCount
    }

    enum CodingKeys: String, CodingKey {
        case messages, bytes
        case firstSequence = "first_seq"
        case firstTime = "first_ts"
        case lastSequence = "last_seq"
        case lastTime = "last_ts"
        case numSubjects = "num_subjects"
        case subjects
        case numDeleted = "num_deleted"
        case deleted
        case consumerCount = "consumer_count"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        messages = try container.decodeIfPresent(UInt64.self, forKey: .messages) ?? 0
        bytes = try container.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
        firstSequence = try container.decodeIfPresent(UInt64.self, forKey: .firstSequence) ?? 0
        firstTime = try container.decodeIfPresent(JetStreamTimestamp.self, forKey: .firstTime) ?? .zero
        lastSequence = try container.decodeIfPresent(UInt64.self, forKey: .lastSequence) ?? 0
        lastTime = try container.decodeIfPresent(JetStreamTimestamp.self, forKey: .lastTime) ?? .zero
        numSubjects = try container.decodeIfPresent(Int.self, forKey: .numSubjects) ?? 0
        subjects = try container.decodeIfPresent([String: UInt64].self, forKey: .subjects)
        numDeleted = try container.decodeIfPresent(Int.self, forKey: .numDeleted) ?? 0
        deleted = try container.decodeIfPresent([UInt64].self, forKey: .deleted)
        consumerCount = try container.decodeIfPresent(Int.self, forKey: .consumerCount) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(messages, forKey: .messages)
        try container.encode(bytes, forKey: .bytes)
        try container.encode(firstSequence, forKey: .firstSequence)
        try container.encode(firstTime, forKey: .firstTime)
        try container.encode(lastSequence, forKey: .lastSequence)
        try container.encode(lastTime, forKey: .lastTime)
        if numSubjects != 0 { try container.encode(numSubjects, forKey: .numSubjects) }
        try container.encodeIfPresent(subjects, forKey: .subjects)
        if numDeleted != 0 { try container.encode(numDeleted, forKey: .numDeleted) }
        try container.encodeIfPresent(deleted, forKey: .deleted)
        try container.encode(consumerCount, forKey: .consumerCount)
    }
}
