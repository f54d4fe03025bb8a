/// The body of STREAM.PURGE. Empty purges the whole stream.
///
/// Cluster mode drops one session's queue below an acknowledged point with
/// `filter` and `sequence` together. `sequence` and `keep` exclude each
/// other (the server refuses both).
public struct StreamPurgeRequest: Sendable, Hashable, Codable {
    /// Only messages on subjects matching this (wildcards allowed).
    public var filter: String?
    /// Purge below this sequence, not including it.
    public var sequence: UInt64?
    /// Keep this many of the newest messages.
    public var keep: UInt64?

    public init(filter: String? = nil, sequence: UInt64? = nil, keep: UInt64? = nil) {
        self.filter = filter
        self.sequence = sequence
        self.keep = keep
    }

    enum CodingKeys: String, CodingKey {
        case filter
        case sequence = "seq"
        case keep
    }
}

/// The reply of STREAM.PURGE.
public struct StreamPurgeResponse: Sendable, Hashable, Codable {
    public var success: Bool
    /// How many messages went.
    public var purged: UInt64

    public init(success: Bool, purged: UInt64) {
        self.success = success
        self.purged = purged
    }

    enum CodingKeys: String, CodingKey { case success, purged }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? false
        purged = try container.decodeIfPresent(UInt64.self, forKey: .purged) ?? 0
    }
}
