/// A stream's answer to a publish: where the message was stored.
///
/// Decode replies with `JetStreamResponse.decode(PublishAck.self, ...)`: a
/// refused publish carries `"stream"` and `"seq":0` beside its `error`, and
/// must not pass for an ack.
public struct PublishAck: Sendable, Hashable, Codable {
    public var stream: String
    public var sequence: UInt64
    /// The `Nats-Msg-Id` was seen within the duplicate window: nothing was
    /// stored, and `sequence` is the first copy's.
    public var duplicate: Bool
    public var domain: String?

    public init(stream: String, sequence: UInt64, duplicate: Bool = false, domain: String? = nil) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
        self.domain = domain
    }

    enum CodingKeys: String, CodingKey {
        case stream
        case sequence = "seq"
        case duplicate, domain
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        stream = try container.decode(String.self, forKey: .stream)
        sequence = try container.decode(UInt64.self, forKey: .sequence)
        duplicate = try container.decodeIfPresent(Bool.self, forKey: .duplicate) ?? false
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stream, forKey: .stream)
        try container.encode(sequence, forKey: .sequence)
        try container.encodeIfTrue(duplicate, forKey: .duplicate)
        try container.encodeIfPresent(domain, forKey: .domain)
    }
}
