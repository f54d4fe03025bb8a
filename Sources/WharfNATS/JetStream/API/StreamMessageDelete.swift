/// The body of STREAM.MSG.DELETE: one message, by its sequence.
///
/// Unlike STREAM.PURGE, it is safe to replay: nats-server 2.9.10 (Debian's)
/// replays a purge from its Raft log after a restart as "everything below
/// the stream's last sequence at the time of the purge", whatever its
/// filter said (nats-server#4196, fixed in 2.9.18), so a restarted replica
/// that becomes leader has lost every other subject's older messages. A
/// delete replays as exactly the message it names.
public struct StreamMessageDeleteRequest: Sendable, Hashable, Codable {
    public var sequence: UInt64
    /// Marks the message deleted without overwriting its bytes on disk
    /// (cheaper; the bytes go when their block is compacted).
    public var noErase: Bool

    public init(sequence: UInt64, noErase: Bool = true) {
        self.sequence = sequence
        self.noErase = noErase
    }

    enum CodingKeys: String, CodingKey {
        case sequence = "seq"
        case noErase = "no_erase"
    }
}

/// The reply of STREAM.MSG.DELETE. A message that is not there is an error
/// reply (10043), not `success: false`.
public struct StreamMessageDeleteResponse: Sendable, Hashable, Codable {
    public var success: Bool

    public init(success: Bool) { self.success = success }

    enum CodingKeys: String, CodingKey { case success }

    public init(from decoder: any Decoder) throws {
        success = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .success) ?? false
    }
}
