/// The reply of STREAM.DELETE. A missing stream is an error reply (10059),
/// not `success: false`.
public struct StreamDeleteResponse: Sendable, Hashable, Codable {
    public var success: Bool

    public init(success: Bool) { self.success = success }

    enum CodingKeys: String, CodingKey { case success }

    public init(from decoder: any Decoder) throws {
        success = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .success) ?? false
    }
}

/// The reply of CONSUMER.DELETE. A missing consumer is an error reply (10014).
public struct ConsumerDeleteResponse: Sendable, Hashable, Codable {
    public var success: Bool

    public init(success: Bool) { self.success = success }

    enum CodingKeys: String, CodingKey { case success }

    public init(from decoder: any Decoder) throws {
        success = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .success) ?? false
    }
}
