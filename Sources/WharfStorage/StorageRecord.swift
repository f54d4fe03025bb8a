import NIOCore

/// One entry of the log, as recovery and `wharf storage inspect` read it.
///
/// On disk every record is a frame: body length (UInt32), CRC-32C of the
/// body (UInt32), then the body, whose first byte is the kind. Integers are
/// little-endian; strings are a UInt16 length and UTF-8; payloads a UInt32
/// length and bytes. Ids: a message id is unique for the life of the data
/// directory (never reused); a queue id names a persistent session's queue
/// or a consumer group's.
public enum StorageRecord: Sendable {
    /// A message kept because a durable queue took it (`targets`), it is
    /// retained, or it is a delayed will. Written once, however many
    /// queues it went to. Times are Unix nanoseconds (wall clock), so they
    /// mean the same after a restart.
    case message(StoredMessage, targets: [QueueEntry])
    /// A stored message added to a queue later (a retained message sent on
    /// subscribe; every entry of a checkpoint).
    case enqueue(queue: UInt64, QueueEntry)
    /// A message left a queue: acknowledged, expired, dropped or dead-lettered.
    case remove(queue: UInt64, message: UInt64)
    /// Outbound QoS 2: the PUBLISH went out with this packet id.
    case sent(queue: UInt64, message: UInt64, packetId: UInt16)
    /// Outbound QoS 2: PUBREC came back; PUBREL is next.
    case released(queue: UInt64, message: UInt64)
    /// A persistent session (created, or its expiry interval changed).
    case session(queue: UInt64, clientId: String, expiryInterval: UInt32)
    case sessionEnd(queue: UInt64)
    /// A persistent session with a finite expiry interval went offline: it
    /// ends at `expiresAt` (Unix nanoseconds) unless its client comes back
    /// first; 0 means it came back. A restart keeps the deadline.
    case sessionOffline(queue: UInt64, expiresAt: UInt64)
    case subscribe(queue: UInt64, filter: String, options: UInt8, identifier: UInt32)
    case unsubscribe(queue: UInt64, filter: String)
    /// A consumer group (`$share/name/filter`) and its queue.
    case group(queue: UInt64, name: String, filter: String)
    case groupEnd(queue: UInt64)
    /// The retained message for a topic; message 0 clears it.
    case retain(topic: String, message: UInt64)
    /// A will waiting out its delay; message 0 means it went or was cancelled.
    case will(clientId: String, message: UInt64, deadline: UInt64)
    /// Inbound QoS 2: a packet id awaiting PUBREL (`awaiting` true) or released.
    case inbound(queue: UInt64, packetId: UInt16, awaiting: Bool)
    /// A publisher de-duplication id seen on a topic.
    case dedup(topic: String, id: String, seenAt: UInt64)
    /// A checkpoint: the whole live state, written at the start of a
    /// segment so older segments can be deleted. Inside one, message
    /// records' targets are ignored (explicit enqueue records follow).
    case checkpointBegin(nextMessageId: UInt64, nextQueueId: UInt64)
    case checkpointEnd

    /// The on-disk record kinds: these numbers are the format, never reused.
    enum Kind: UInt8 {
        case message = 1
        case enqueue = 2
        case remove = 3
        case sent = 4
        case released = 5
        case session = 6
        case sessionEnd = 7
        case subscribe = 8
        case unsubscribe = 9
        case group = 10
        case groupEnd = 11
        case retain = 12
        case will = 13
        case inbound = 14
        case dedup = 15
        case checkpointBegin = 16
        case checkpointEnd = 17
        case sessionOffline = 18
    }
}

/// A message's fields as stored.
public struct StoredMessage: Sendable {
    public var id: UInt64
    public var topic: String
    public var payload: ByteBuffer
    public var qos: UInt8
    public var retain: Bool
    public var forwardsExpiry: Bool
    public var publishedAt: UInt64
    /// Unix nanoseconds after which it must not be delivered; 0 for never.
    public var expiresAt: UInt64
    /// Encoded 5.0 properties forwarded to subscribers, if any.
    public var properties: ByteBuffer?

    public init(
        id: UInt64, topic: String, payload: ByteBuffer, qos: UInt8, retain: Bool, forwardsExpiry: Bool,
        publishedAt: UInt64, expiresAt: UInt64, properties: ByteBuffer?
    ) {
        self.id = id
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.forwardsExpiry = forwardsExpiry
        self.publishedAt = publishedAt
        self.expiresAt = expiresAt
        self.properties = properties
    }
}

/// A message's place in one queue.
public struct QueueEntry: Sendable, Hashable {
    public var queue: UInt64
    public var message: UInt64
    public var qos: UInt8
    /// RETAIN on the wire (retain-as-published, or sent on subscribe).
    public var retain: Bool
    public var onSubscribe: Bool
    public var subscriptionIds: [UInt32]
    public var attempts: UInt16

    public init(
        queue: UInt64, message: UInt64, qos: UInt8, retain: Bool = false, onSubscribe: Bool = false, subscriptionIds: [UInt32] = [],
        attempts: UInt16 = 0
    ) {
        self.queue = queue
        self.message = message
        self.qos = qos
        self.retain = retain
        self.onSubscribe = onSubscribe
        self.subscriptionIds = subscriptionIds
        self.attempts = attempts
    }
}

/// A record body that does not parse (its CRC matched, so this is a bug or
/// a newer format, not a torn write).
public struct RecordDecodeError: Error, CustomStringConvertible {
    public let kind: UInt8
    public var description: String { "record of kind \(kind) does not parse" }
}

extension StorageRecord {
    /// Parses one record body (the bytes after the frame header).
    public static func decode(_ body: inout ByteBuffer) throws(RecordDecodeError) -> StorageRecord {
        guard let raw = body.readInteger(as: UInt8.self) else { throw RecordDecodeError(kind: 0) }
        guard let kind = Kind(rawValue: raw), let record = parse(kind, &body) else { throw RecordDecodeError(kind: raw) }
        return record
    }

    private static func parse(_ kind: Kind, _ b: inout ByteBuffer) -> StorageRecord? {
        switch kind {
        case .message:
            var targets: [QueueEntry] = []
            guard let header = parseMessage(&b, decodingBody: true, target: { targets.append($0) }), let message = header.body else {
                return nil
            }
            return .message(message, targets: targets)
        case .enqueue:
            guard let message = b.u64, let entry = b.entry(message: message) else { return nil }
            return .enqueue(queue: entry.queue, entry)
        case .remove:
            guard let q = b.u64, let m = b.u64 else { return nil }
            return .remove(queue: q, message: m)
        case .sent:
            guard let q = b.u64, let m = b.u64, let p = b.u16 else { return nil }
            return .sent(queue: q, message: m, packetId: p)
        case .released:
            guard let q = b.u64, let m = b.u64 else { return nil }
            return .released(queue: q, message: m)
        case .session:
            guard let q = b.u64, let e = b.u32, let c = b.string16 else { return nil }
            return .session(queue: q, clientId: c, expiryInterval: e)
        case .sessionEnd:
            guard let q = b.u64 else { return nil }
            return .sessionEnd(queue: q)
        case .sessionOffline:
            guard let q = b.u64, let e = b.u64 else { return nil }
            return .sessionOffline(queue: q, expiresAt: e)
        case .subscribe:
            guard let q = b.u64, let o = b.u8, let i = b.u32, let f = b.string16 else { return nil }
            return .subscribe(queue: q, filter: f, options: o, identifier: i)
        case .unsubscribe:
            guard let q = b.u64, let f = b.string16 else { return nil }
            return .unsubscribe(queue: q, filter: f)
        case .group:
            guard let q = b.u64, let n = b.string16, let f = b.string16 else { return nil }
            return .group(queue: q, name: n, filter: f)
        case .groupEnd:
            guard let q = b.u64 else { return nil }
            return .groupEnd(queue: q)
        case .retain:
            guard let m = b.u64, let t = b.string16 else { return nil }
            return .retain(topic: t, message: m)
        case .will:
            guard let m = b.u64, let d = b.u64, let c = b.string16 else { return nil }
            return .will(clientId: c, message: m, deadline: d)
        case .inbound:
            guard let q = b.u64, let p = b.u16, let a = b.u8 else { return nil }
            return .inbound(queue: q, packetId: p, awaiting: a != 0)
        case .dedup:
            guard let s = b.u64, let t = b.string16, let i = b.string16 else { return nil }
            return .dedup(topic: t, id: i, seenAt: s)
        case .checkpointBegin:
            guard let m = b.u64, let q = b.u64 else { return nil }
            return .checkpointBegin(nextMessageId: m, nextQueueId: q)
        case .checkpointEnd:
            return .checkpointEnd
        }
    }
}

extension StorageRecord {
    /// A message record's body after its kind byte, read in place: the one
    /// parser for both recovery and the writer. The topic and payload are
    /// decoded only with `decodingBody` (the writer needs ids and targets
    /// only); each target goes to `target` as it is read, so no array is
    /// built per message. Nil when the record is cut short.
    static func parseMessage(
        _ b: inout ByteBuffer, decodingBody: Bool, target: (QueueEntry) -> Void
    ) -> (id: UInt64, expiresAt: UInt64, body: StoredMessage?)? {
        guard let id = b.u64, let qos = b.u8, let flags = b.u8, let published = b.u64, let expires = b.u64,
            let topicLength = b.u16, let topic = b.readSlice(length: Int(topicLength)), let payload = b.bytes32
        else { return nil }
        var properties: ByteBuffer?
        if flags & 4 != 0 {
            guard let slice = b.bytes32 else { return nil }
            properties = slice
        }
        guard let count = b.u16 else { return nil }
        var body: StoredMessage?
        if decodingBody {
            body = StoredMessage(
                id: id, topic: String(buffer: topic), payload: payload, qos: qos, retain: flags & 1 != 0,
                forwardsExpiry: flags & 2 != 0, publishedAt: published, expiresAt: expires, properties: properties
            )
        }
        for _ in 0..<count {
            guard let entry = b.entry(message: id) else { return nil }
            target(entry)
        }
        return (id, expires, body)
    }
}

extension ByteBuffer {
    fileprivate var u8: UInt8? { mutating get { readInteger(endianness: .little) } }
    fileprivate var u16: UInt16? { mutating get { readInteger(endianness: .little) } }
    fileprivate var u32: UInt32? { mutating get { readInteger(endianness: .little) } }
    fileprivate var u64: UInt64? { mutating get { readInteger(endianness: .little) } }
    fileprivate var string16: String? {
        mutating get {
            guard let length = u16 else { return nil }
            return readString(length: Int(length))
        }
    }
    fileprivate var bytes32: ByteBuffer? {
        mutating get {
            guard let length = u32 else { return nil }
            return readSlice(length: Int(length))
        }
    }

    /// queue, qos, flags (1 retain, 2 on subscribe), attempts, identifiers.
    fileprivate mutating func entry(message: UInt64) -> QueueEntry? {
        guard let queue = u64, let qos = u8, let flags = u8, let attempts = u16, let count = u8 else { return nil }
        var ids: [UInt32] = []
        for _ in 0..<count {
            guard let id = u32 else { return nil }
            ids.append(id)
        }
        return QueueEntry(
            queue: queue, message: message, qos: qos, retain: flags & 1 != 0, onSubscribe: flags & 2 != 0,
            subscriptionIds: ids, attempts: attempts
        )
    }
}
