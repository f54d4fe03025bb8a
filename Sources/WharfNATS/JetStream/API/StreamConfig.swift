/// A stream's configuration: the body of STREAM.CREATE and STREAM.UPDATE,
/// and the `config` of every stream info.
///
/// Limits use the server's own representation, -1 for "unlimited", and
/// their defaults are what nats-server 2.9.10 stores when a request leaves
/// them out (`checkStreamCfg`), so a config read back from the server
/// decodes to the same value it was built as. Only `description` and
/// `duplicateWindow` are optional; both are omitted from the JSON when nil.
///
/// Cluster mode creates its streams at every node start. The server
/// answers a create whose config, after filling in its defaults, equals
/// the stored one with success (observed on 2.9.10, single server and R3
/// cluster), and a different one with 10058; `reconcile(with:)` then says
/// whether STREAM.UPDATE can bridge the difference.
///
/// Fields the server has and cluster mode does not use (mirror, sources,
/// placement, republish, templates, `no_ack`) are not modelled: they are
/// dropped on decode and never sent.
public struct StreamConfig: Sendable, Hashable {
    /// Letters, digits, `-` and `_`; no `.`, `*`, `>` or whitespace (the name
    /// is a token of the API subjects).
    public var name: String
    public var description: String?
    /// The subjects the stream captures. Empty means the stream's name, which
    /// the server fills in.
    public var subjects: [String]
    public var retention: RetentionPolicy
    public var maxConsumers: Int
    public var maxMessages: Int64
    public var maxBytes: Int64
    /// Zero for no age limit.
    public var maxAge: Duration
    public var maxMessagesPerSubject: Int64
    public var maxMessageSize: Int32
    public var discard: DiscardPolicy
    /// Applies `discard: new` per subject: with `maxMessagesPerSubject` the
    /// one full subject refuses, not the whole stream. Needs `discard: new`
    /// and `maxMessagesPerSubject > 0`.
    public var discardNewPerSubject: Bool
    public var storage: StorageType
    public var replicas: Int
    /// How long a `Nats-Msg-Id` is remembered. Nil lets the server choose:
    /// two minutes, or `maxAge` when that is shorter.
    public var duplicateWindow: Duration?
    /// Serve `$JS.API.DIRECT.GET` from every replica, not only the leader.
    public var allowDirect: Bool
    /// Set by the server on mirrors of direct streams; here so a decoded
    /// config compares whole.
    public var mirrorDirect: Bool
    /// Honour `Nats-Rollup` headers (a KV put that replaces a subject's history).
    public var allowRollupHeaders: Bool
    /// Once true, cannot be turned off by an update.
    public var denyDelete: Bool
    /// Once true, cannot be turned off by an update.
    public var denyPurge: Bool
    /// Read-only for good; a create cannot be sealed.
    public var sealed: Bool

    public init(
        name: String, description: String? = nil, subjects: [String] = [], retention: RetentionPolicy = .limits,
        maxConsumers: Int = -1, maxMessages: Int64 = -1, maxBytes: Int64 = -1, maxAge: Duration = .zero,
        maxMessagesPerSubject: Int64 = -1, maxMessageSize: Int32 = -1, discard: DiscardPolicy = .old,
        discardNewPerSubject: Bool = false, storage: StorageType = .file, replicas: Int = 1,
        duplicateWindow: Duration? = nil, allowDirect: Bool = false, mirrorDirect: Bool = false,
        allowRollupHeaders: Bool = false, denyDelete: Bool = false, denyPurge: Bool = false, sealed: Bool = false
    ) {
        self.name = name
        self.description = description
        self.subjects = subjects
        self.retention = retention
        self.maxConsumers = maxConsumers
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.maxMessageSize = maxMessageSize
        self.discard = discard
        self.discardNewPerSubject = discardNewPerSubject
        self.storage = storage
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
        self.allowDirect = allowDirect
        self.mirrorDirect = mirrorDirect
        self.allowRollupHeaders = allowRollupHeaders
        self.denyDelete = denyDelete
        self.denyPurge = denyPurge
        self.sealed = sealed
    }
}

extension StreamConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case name, description, subjects, retention
        case maxConsumers = "max_consumers"
        case maxMessages = "max_msgs"
        case maxBytes = "max_bytes"
        case maxAge = "max_age"
        case maxMessagesPerSubject = "max_msgs_per_subject"
        case maxMessageSize = "max_msg_size"
        case discard
        case discardNewPerSubject = "discard_new_per_subject"
        case storage
        case replicas = "num_replicas"
        case duplicateWindow = "duplicate_window"
        case allowDirect = "allow_direct"
        case mirrorDirect = "mirror_direct"
        case allowRollupHeaders = "allow_rollup_hdrs"
        case denyDelete = "deny_delete"
        case denyPurge = "deny_purge"
        case sealed
    }

    /// Missing members take the value the server means by their absence.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        subjects = try container.decodeIfPresent([String].self, forKey: .subjects) ?? []
        retention = try container.decodeIfPresent(RetentionPolicy.self, forKey: .retention) ?? .limits
        maxConsumers = try container.decodeIfPresent(Int.self, forKey: .maxConsumers) ?? -1
        maxMessages = try container.decodeIfPresent(Int64.self, forKey: .maxMessages) ?? -1
        maxBytes = try container.decodeIfPresent(Int64.self, forKey: .maxBytes) ?? -1
        maxAge = try container.decodeNanosecondsIfPresent(forKey: .maxAge) ?? .zero
        maxMessagesPerSubject = try container.decodeIfPresent(Int64.self, forKey: .maxMessagesPerSubject) ?? -1
        maxMessageSize = try container.decodeIfPresent(Int32.self, forKey: .maxMessageSize) ?? -1
        discard = try container.decodeIfPresent(DiscardPolicy.self, forKey: .discard) ?? .old
        discardNewPerSubject = try container.decodeIfPresent(Bool.self, forKey: .discardNewPerSubject) ?? false
        storage = try container.decodeIfPresent(StorageType.self, forKey: .storage) ?? .file
        replicas = try container.decodeIfPresent(Int.self, forKey: .replicas) ?? 1
        duplicateWindow = try container.decodeNonZeroNanosecondsIfPresent(forKey: .duplicateWindow)
        allowDirect = try container.decodeIfPresent(Bool.self, forKey: .allowDirect) ?? false
        mirrorDirect = try container.decodeIfPresent(Bool.self, forKey: .mirrorDirect) ?? false
        allowRollupHeaders = try container.decodeIfPresent(Bool.self, forKey: .allowRollupHeaders) ?? false
        denyDelete = try container.decodeIfPresent(Bool.self, forKey: .denyDelete) ?? false
        denyPurge = try container.decodeIfPresent(Bool.self, forKey: .denyPurge) ?? false
        sealed = try container.decodeIfPresent(Bool.self, forKey: .sealed) ?? false
    }

    /// Writes every member the server always writes, so the request reads
    /// like the stored config; `description` and `duplicate_window` only
    /// when set, and `subjects` only when not empty.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        if !subjects.isEmpty { try container.encode(subjects, forKey: .subjects) }
        try container.encode(retention, forKey: .retention)
        try container.encode(maxConsumers, forKey: .maxConsumers)
        try container.encode(maxMessages, forKey: .maxMessages)
        try container.encode(maxBytes, forKey: .maxBytes)
        try container.encodeNanoseconds(maxAge, forKey: .maxAge)
        try container.encode(maxMessagesPerSubject, forKey: .maxMessagesPerSubject)
        try container.encode(maxMessageSize, forKey: .maxMessageSize)
        try container.encode(discard, forKey: .discard)
        try container.encodeIfTrue(discardNewPerSubject, forKey: .discardNewPerSubject)
        try container.encode(storage, forKey: .storage)
        try container.encode(replicas, forKey: .replicas)
        try container.encodeNanosecondsIfPresent(duplicateWindow, forKey: .duplicateWindow)
        try container.encode(allowDirect, forKey: .allowDirect)
        try container.encode(mirrorDirect, forKey: .mirrorDirect)
        try container.encode(allowRollupHeaders, forKey: .allowRollupHeaders)
        try container.encode(denyDelete, forKey: .denyDelete)
        try container.encode(denyPurge, forKey: .denyPurge)
        try container.encode(sealed, forKey: .sealed)
    }
}
