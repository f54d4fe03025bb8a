import NIOCore
import Testing

@testable import WharfStorage

/// How a record reaches `DurableState`: decoded into a `StorageRecord`
/// first, or read in place from its bytes, as the writer thread and
/// recovery read it (message records have their own parser there).
enum ApplyPath: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case decoded, inPlace
    var testDescription: String { rawValue }
}

/// A log kept in memory: batches framed by `StorageBatch`, split back into
/// frames (CRC checked, as the scanner checks them) and applied to a
/// `DurableState` at the locations they would have in a segment file.
struct MemoryLog {
    var state: DurableState
    let path: ApplyPath
    private(set) var segment: UInt64 = 1
    private(set) var offset = SegmentFiles.magic.count
    /// Where each message record sits (its latest copy), by message id.
    private(set) var messageLocations: [UInt64: DurableState.Location] = [:]

    init(_ path: ApplyPath = .inPlace, keepsBodies: Bool = false) {
        self.path = path
        state = DurableState(keepsBodies: keepsBodies)
    }

    /// Builds one batch, as a connection would, and applies it.
    mutating func write(_ build: (inout StorageBatch) -> Void) {
        var batch = StorageBatch()
        build(&batch)
        append(batch)
    }

    mutating func append(_ batch: StorageBatch) {
        for body in Self.frames(of: batch) {
            let location = DurableState.Location(segment: segment, offset: offset, length: LogScanner.frameHeader + body.readableBytes)
            if body.getInteger(at: body.readerIndex, as: UInt8.self) == StorageRecord.Kind.message.rawValue,
                let id = body.getInteger(at: body.readerIndex + 1, endianness: .little, as: UInt64.self)
            {
                messageLocations[id] = location
            }
            do {
                switch path {
                case .decoded:
                    var reader = body
                    let record = try StorageRecord.decode(&reader)
                    #expect(reader.readableBytes == 0, "the decoder left bytes of a record unread")
                    state.apply(record, at: location)
                case .inPlace:
                    try state.apply(body: body, at: location)
                }
            } catch {
                Issue.record("a record built by StorageBatch did not parse: \(error)")
            }
            offset += location.length
        }
    }

    /// The writer moved on to a new segment (a roll, or a restart).
    mutating func startSegment() {
        segment += 1
        offset = SegmentFiles.magic.count
        state.segmentStarted()
    }

    /// Frame length of message `id`'s record: what it adds to `liveMessageBytes`.
    func bytes(of id: UInt64) -> Int { messageLocations[id]?.length ?? -1 }

    /// The record bodies framed in `batch`.
    static func frames(of batch: StorageBatch) -> [ByteBuffer] {
        var bytes = batch.bytes
        var bodies: [ByteBuffer] = []
        while bytes.readableBytes > 0 {
            guard let length = bytes.readInteger(endianness: .little, as: UInt32.self),
                let crc = bytes.readInteger(endianness: .little, as: UInt32.self),
                let body = bytes.readSlice(length: Int(length))
            else {
                Issue.record("a frame in the batch is cut short")
                break
            }
            #expect(CRC32C.checksum(body, at: body.readerIndex, length: body.readableBytes) == crc)
            bodies.append(body)
        }
        #expect(bodies.count == batch.records)
        return bodies
    }
}

/// A message as a publisher's connection stores it.
func stored(_ id: UInt64, topic: String? = nil, payload: String = "payload", qos: UInt8 = 1, expiresAt: UInt64 = 0) -> StoredMessage {
    StoredMessage(
        id: id, topic: topic ?? "sensors/\(id)", payload: ByteBuffer(string: payload), qos: qos, retain: false,
        forwardsExpiry: false, publishedAt: 1_700_000_000_000_000_000, expiresAt: expiresAt, properties: nil
    )
}

/// Everything `DurableState` holds that a broker restores from, in a form
/// that compares as a whole (record locations and early records' ages left
/// out: a checkpoint moves the first and restarts the second).
struct LiveState: Equatable, CustomStringConvertible {
    struct Entry: Equatable {
        var entry: QueueEntry
        var packetId: UInt16?
        var released: Bool
    }

    struct Subscription: Equatable {
        var options: UInt8
        var identifier: UInt32
    }

    struct Queue: Equatable {
        var kind: DurableState.QueueKind
        /// By message id.
        var entries: [Entry]
        var subscriptions: [String: Subscription]
        var inbound: Set<UInt16>
        var expiresAt: UInt64
    }

    struct Message: Equatable {
        var references: Int32
        var expiresAt: UInt64
    }

    struct Will: Equatable {
        var message: UInt64
        var deadline: UInt64
    }

    struct Handshake: Equatable {
        var packetId: UInt16?
        var released: Bool
    }

    var queues: [UInt64: Queue]
    var messages: [UInt64: Message]
    var retained: [String: UInt64]
    var wills: [String: Will]
    var dedup: [String: UInt64]
    var nextMessageId: UInt64
    var nextQueueId: UInt64
    var earlyRemovals: Set<DurableState.QueueMessage>
    var earlyHandshakes: [DurableState.QueueMessage: Handshake]
    var earlyEnqueues: [UInt64: [QueueEntry]]

    init(_ state: DurableState) {
        queues = state.queues.mapValues { queue in
            Queue(
                kind: queue.kind,
                entries: queue.entries.sorted { $0.key < $1.key }.map {
                    Entry(entry: $0.value.entry, packetId: $0.value.packetId, released: $0.value.released)
                },
                subscriptions: queue.subscriptions.mapValues { Subscription(options: $0.options, identifier: $0.identifier) },
                inbound: queue.inbound, expiresAt: queue.expiresAt
            )
        }
        messages = state.messages.mapValues { Message(references: $0.references, expiresAt: $0.expiresAt) }
        retained = state.retained
        wills = state.wills.mapValues { Will(message: $0.message, deadline: $0.deadline) }
        dedup = state.dedup
        nextMessageId = state.nextMessageId
        nextQueueId = state.nextQueueId
        earlyRemovals = Set(state.early.removals.keys)
        earlyHandshakes = state.early.handshakes.mapValues { Handshake(packetId: $0.packetId, released: $0.released) }
        earlyEnqueues = state.early.enqueues.mapValues(\.entries)
    }

    var description: String {
        """
        queues: \(queues.sorted { $0.key < $1.key })
        messages: \(messages.sorted { $0.key < $1.key })
        retained: \(retained), wills: \(wills), dedup: \(dedup)
        next ids: message \(nextMessageId), queue \(nextQueueId)
        early: removals \(earlyRemovals), handshakes \(earlyHandshakes), enqueues \(earlyEnqueues)
        """
    }
}
