/// The body of `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`, published
/// with a reply subject where the messages, and the status that ends the
/// request (404 no messages, 408 expired, 409 past a limit), arrive.
public struct PullRequest: Sendable, Hashable, Codable {
    /// Messages wanted (the server's default is 1).
    public var batch: Int
    /// How long the server keeps the request open; nil for until filled.
    public var expires: Duration?
    /// Answer at once (404) instead of waiting when nothing is pending.
    public var noWait: Bool
    /// Send a 100 status this often while waiting, so a lost server shows.
    /// The server requires `expires` of at least twice this.
    public var idleHeartbeat: Duration?
    /// Stop once this many payload bytes are out.
    public var maxBytes: Int?

    public init(
        batch: Int = 1, expires: Duration? = nil, noWait: Bool = false, idleHeartbeat: Duration? = nil, maxBytes: Int? = nil
    ) {
        self.batch = batch
        self.expires = expires
        self.noWait = noWait
        self.idleHeartbeat = idleHeartbeat
        self.maxBytes = maxBytes
    }

    enum CodingKeys: String, CodingKey {
        case batch, expires
        case noWait = "no_wait"
        case idleHeartbeat = "idle_heartbeat"
        case maxBytes = "max_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        batch = try container.decodeIfPresent(Int.self, forKey: .batch) ?? 1
        expires = try container.decodeNonZeroNanosecondsIfPresent(forKey: .expires)
        noWait = try container.decodeIfPresent(Bool.self, forKey: .noWait) ?? false
        idleHeartbeat = try container.decodeNonZeroNanosecondsIfPresent(forKey: .idleHeartbeat)
        maxBytes = try container.decodeIfPresent(Int.self, forKey: .maxBytes)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(batch, forKey: .batch)
        try container.encodeNanosecondsIfPresent(expires, forKey: .expires)
        try container.encodeIfTrue(noWait, forKey: .noWait)
        try container.encodeNanosecondsIfPresent(idleHeartbeat, forKey: .idleHeartbeat)
        try container.encodeIfPresent(maxBytes, forKey: .maxBytes)
    }
}
