import Foundation
import NIOCore

/// Which stored message to read: the body of `$JS.API.STREAM.MSG.GET.<stream>`
/// and of `$JS.API.DIRECT.GET.<stream>` (the direct form answers with the
/// message itself and `Nats-*` headers instead of JSON, and any replica of
/// an `allow_direct` stream may serve it).
public struct StreamMessageGetRequest: Sendable, Hashable, Codable {
    /// The message at this sequence; with `nextBySubject`, where the
    /// search starts (inclusive).
    public var sequence: UInt64?
    /// The newest message on this subject.
    public var lastBySubject: String?
    /// The first message on this subject at or after `sequence`.
    public var nextBySubject: String?

    public init(sequence: UInt64? = nil, lastBySubject: String? = nil, nextBySubject: String? = nil) {
        self.sequence = sequence
        self.lastBySubject = lastBySubject
        self.nextBySubject = nextBySubject
    }

    public static func sequence(_ sequence: UInt64) -> StreamMessageGetRequest {
        StreamMessageGetRequest(sequence: sequence)
    }

    public static func last(subject: String) -> StreamMessageGetRequest {
        StreamMessageGetRequest(lastBySubject: subject)
    }

    public static func next(subject: String, from sequence: UInt64) -> StreamMessageGetRequest {
        StreamMessageGetRequest(sequence: sequence, nextBySubject: subject)
    }

    enum CodingKeys: String, CodingKey {
        case sequence = "seq"
        case lastBySubject = "last_by_subj"
        case nextBySubject = "next_by_subj"
    }
}

/// The reply of STREAM.MSG.GET: `{"message":{...}}`. A missing message is
/// an error reply (10037).
public struct StreamMessageGetResponse: Sendable, Hashable, Codable {
    public var message: StoredMessage

    public init(message: StoredMessage) { self.message = message }
}

/// A message as the stream holds it. Headers and payload travel in base64.
public struct StoredMessage: Sendable, Hashable, Codable {
    public var subject: String
    public var sequence: UInt64
    /// The raw header block (`NATS/1.0\r\n...\r\n\r\n`), nil without headers.
    public var rawHeaders: Data?
    public var data: Data
    public var time: JetStreamTimestamp

    public init(subject: String, sequence: UInt64, rawHeaders: Data? = nil, data: Data = Data(), time: JetStreamTimestamp) {
        self.subject = subject
        self.sequence = sequence
        self.rawHeaders = rawHeaders
        self.data = data
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case subject
        case sequence = "seq"
        case rawHeaders = "hdrs"
        case data, time
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subject = try container.decode(String.self, forKey: .subject)
        sequence = try container.decode(UInt64.self, forKey: .sequence)
        rawHeaders = try container.decodeIfPresent(Data.self, forKey: .rawHeaders)
        data = try container.decodeIfPresent(Data.self, forKey: .data) ?? Data()
        time = try container.decode(JetStreamTimestamp.self, forKey: .time)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subject, forKey: .subject)
        try container.encode(sequence, forKey: .sequence)
        if let rawHeaders, !rawHeaders.isEmpty { try container.encode(rawHeaders, forKey: .rawHeaders) }
        if !data.isEmpty { try container.encode(data, forKey: .data) }
        try container.encode(time, forKey: .time)
    }

    /// The header block parsed; nil when the message has none.
    public func headers() throws(NATSProtocolError) -> NATSHeaders? {
        guard let rawHeaders, !rawHeaders.isEmpty else { return nil }
        return try NATSHeaders.parse(ByteBuffer(bytes: rawHeaders).readableBytesView)
    }
}
