/// The reply of `$JS.API.INFO`: what this account uses. Cluster mode calls
/// it at start to learn that JetStream answers at all (no responders or
/// 10039 mean it is off) and shows the usage.
public struct AccountInfo: Sendable, Hashable, Codable {
    /// Bytes in memory streams.
    public var memory: UInt64
    /// Bytes in file streams.
    public var storage: UInt64
    public var streams: Int
    public var consumers: Int
    public var domain: String?

    public init(memory: UInt64 = 0, storage: UInt64 = 0, streams: Int = 0, consumers: Int = 0, domain: String? = nil) {
        self.memory = memory
        self.storage = storage
        self.streams = streams
        self.consumers = consumers
        self.domain = domain
    }

    enum CodingKeys: String, CodingKey { case memory, storage, streams, consumers, domain }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        memory = try container.decodeIfPresent(UInt64.self, forKey: .memory) ?? 0
        storage = try container.decodeIfPresent(UInt64.self, forKey: .storage) ?? 0
        streams = try container.decodeIfPresent(Int.self, forKey: .streams) ?? 0
        consumers = try container.decodeIfPresent(Int.self, forKey: .consumers) ?? 0
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
    }
}
