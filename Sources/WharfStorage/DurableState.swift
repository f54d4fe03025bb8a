import NIOCore

/// What the log says is live, rebuilt by replaying records in order.
///
/// Recovery builds it from the segments (keeping message bodies, which the
/// broker restores from); the writer thread then keeps it current as it
/// writes, without bodies (only where each message record sits), so a
/// checkpoint can rewrite exactly the live state and drop the old segments.
public struct DurableState: Sendable {
    /// Where a record sits: segment number, byte offset and frame length.
    public struct Location: Sendable, Hashable {
        public var segment: UInt64
        public var offset: Int
        public var length: Int
    }

    public struct MessageInfo: Sendable {
        public var location: Location
        /// Queue entries, retained topics and wills that hold it.
        public var references: Int32
        public var expiresAt: UInt64
        /// Where its decoded body sits in `bodies` (recovery only; -1 for none).
        var bodyIndex: Int32 = -1
    }

    public enum QueueKind: Sendable, Hashable {
        case session(clientId: String, expiryInterval: UInt32)
        case group(name: String, filter: String)
    }

    public struct Entry: Sendable {
        public var entry: QueueEntry
        /// QoS 2: the packet id it went out with, and whether PUBREC came back.
        public var packetId: UInt16?
        public var released = false
    }

    public struct Queue: Sendable {
        public var kind: QueueKind
        public var entries: [UInt64: Entry] = [:]
        /// Filter to (options, subscription identifier).
        public var subscriptions: [String: (options: UInt8, identifier: UInt32)] = [:]
        /// Inbound QoS 2 packet ids awaiting PUBREL.
        public var inbound: Set<UInt16> = []
        /// An offline session's end (Unix nanoseconds); 0 while its client is
        /// connected, or when it never expires.
        public var expiresAt: UInt64 = 0
        /// Message ids in the order they were queued (recovery only; ids
        /// since removed are skipped by `queuedInOrder`): a restore needs
        /// that order, and keeping it costs less than sorting a million ids.
        var order: [UInt64] = []

        /// The live entries, in the order they were (last) queued.
        public var queuedInOrder: [(UInt64, Entry)] {
            // As many ids as entries: each live entry was appended once and
            // nothing else was (the common case, no scan for repeats).
            if order.count == entries.count { return order.map { ($0, entries[$0]!) } }
            guard !order.isEmpty else { return entries.keys.sorted().map { ($0, entries[$0]!) } }
            // Removed ids, or ids queued again after removal: the last time counts.
            var seen = Set<UInt64>()
            var result: [(UInt64, Entry)] = []
            for id in order.reversed() where seen.insert(id).inserted {
                if let entry = entries[id] { result.append((id, entry)) }
            }
            return result.reversed()
        }
    }

    public struct QueueMessage: Sendable, Hashable {
        var queue: UInt64
        var message: UInt64
    }

    public private(set) var messages: [UInt64: MessageInfo] = [:]
    /// The decoded messages (recovery only), in record order: an array, not
    /// a table, so a million of them cost no hashing, and they are dropped
    /// in one go once the broker has restored from them.
    private var bodies: [StoredMessage?] = []

    /// A recovered message's fields (before `dropBodies`).
    public func body(of id: UInt64) -> StoredMessage? {
        messages[id].flatMap(body(for:))
    }

    public func body(for info: MessageInfo) -> StoredMessage? {
        guard keepsBodies, info.bodyIndex >= 0 else { return nil }
        return bodies[Int(info.bodyIndex)]
    }
    public private(set) var queues: [UInt64: Queue] = [:]
    public private(set) var retained: [String: UInt64] = [:]
    public private(set) var wills: [String: (message: UInt64, deadline: UInt64)] = [:]
    /// `topic NUL id` to when it was seen (Unix nanoseconds).
    public private(set) var dedup: [String: UInt64] = [:]
    /// Records about messages not logged yet (a subscriber's batch can reach
    /// the log before its publisher's); applied when the message arrives.
    private(set) var early = EarlyRecords()
    public private(set) var nextMessageId: UInt64 = 1
    public private(set) var nextQueueId: UInt64 = 1
    /// Bytes of live message records: what a checkpoint would rewrite.
    public private(set) var liveMessageBytes = 0
    /// Inside a checkpoint, message records' targets are ignored.
    private var inCheckpoint = false
    private(set) var keepsBodies: Bool

    public init(keepsBodies: Bool) {
        self.keepsBodies = keepsBodies
    }

    /// Sizes the message table for a log of this size (a guess: records of
    /// a few hundred bytes), so a big recovery does not rehash repeatedly.
    mutating func reserve(logBytes: Int) {
        messages.reserveCapacity(min(logBytes / 512, 4_000_000))
        if keepsBodies { bodies.reserveCapacity(min(logBytes / 300, 4_000_000)) }
    }

    /// Forgets message bodies once the broker has restored from them.
    public mutating func dropBodies() {
        keepsBodies = false
        for id in queues.keys { queues[id]!.order = [] }
        bodies = []  // stale bodyIndex values are never read again: keepsBodies guards them
    }

    mutating func segmentStarted() { inCheckpoint = false }

    /// Applies one record body (the bytes after the frame header).
    mutating func apply(body: ByteBuffer, at location: Location) throws(RecordDecodeError) {
        var reader = body
        guard reader.getInteger(at: reader.readerIndex, as: UInt8.self) != StorageRecord.Kind.message.rawValue else {
            try applyMessage(&reader, at: location)
            return
        }
        apply(try StorageRecord.decode(&reader), at: location)
    }

    /// Message records, the bulk of any log, read in place: the writer
    /// takes ids and targets only (no strings, no payload); recovery also
    /// decodes the body. Targets are enqueued once the message is known.
    private mutating func applyMessage(_ b: inout ByteBuffer, at location: Location) throws(RecordDecodeError) {
        b.moveReaderIndex(forwardBy: 1)
        var targets = b  // a second pass over the targets, after the message is added
        guard let header = StorageRecord.parseMessage(&b, decodingBody: keepsBodies, target: { _ in }) else {
            throw RecordDecodeError(kind: StorageRecord.Kind.message.rawValue)
        }
        let isNew = addMessage(id: header.id, expiresAt: header.expiresAt, body: header.body, at: location)
        guard !inCheckpoint else { return }
        _ = StorageRecord.parseMessage(&targets, decodingBody: false, target: { enqueue($0) })
        if isNew { arrived(header.id) }
    }

    /// A new message's own targets are in: now the entries other queues
    /// logged for it before it came.
    private mutating func arrived(_ id: UInt64) {
        guard !early.isEmpty else { return }
        for entry in early.takeEnqueues(of: id) { enqueue(entry) }
    }

    public mutating func apply(_ record: StorageRecord, at location: Location) {
        switch record {
        case .message(let message, let targets):
            let isNew = addMessage(id: message.id, expiresAt: message.expiresAt, body: keepsBodies ? message : nil, at: location)
            if !inCheckpoint {
                for var target in targets {
                    target.message = message.id
                    enqueue(target)
                }
                if isNew { arrived(message.id) }
            }
        case .enqueue(_, let entry):
            if messages[entry.message] == nil, queues[entry.queue] != nil {
                early.enqueue(entry)
                sawMessageId(entry.message)
            } else {
                enqueue(entry)
            }
        case .remove(let queue, let message):
            if queues[queue]?.entries.removeValue(forKey: message) != nil {
                release(message)
            } else if messages[message] == nil, queues[queue] != nil {
                early.remove(QueueMessage(queue: queue, message: message))
                sawMessageId(message)
            }
        case .sent(let queue, let message, let packetId):
            if queues[queue]?.entries[message] != nil {
                queues[queue]!.entries[message]!.packetId = packetId
            } else if messages[message] == nil, queues[queue] != nil {
                early.sent(QueueMessage(queue: queue, message: message), packetId: packetId)
                sawMessageId(message)
            }
        case .released(let queue, let message):
            if queues[queue]?.entries[message] != nil {
                queues[queue]!.entries[message]!.released = true
            } else if messages[message] == nil, queues[queue] != nil {
                early.released(QueueMessage(queue: queue, message: message))
                sawMessageId(message)
            }
        case .session(let queue, let clientId, let expiry):
            if queues[queue] == nil {
                queues[queue] = Queue(kind: .session(clientId: clientId, expiryInterval: expiry))
            } else {
                queues[queue]?.kind = .session(clientId: clientId, expiryInterval: expiry)
            }
            nextQueueId = max(nextQueueId, queue + 1)
        case .group(let queue, let name, let filter):
            if queues[queue] == nil { queues[queue] = Queue(kind: .group(name: name, filter: filter)) }
            nextQueueId = max(nextQueueId, queue + 1)
        case .sessionOffline(let queue, let expiresAt):
            queues[queue]?.expiresAt = expiresAt
        case .sessionEnd(let queue), .groupEnd(let queue):
            guard let removed = queues.removeValue(forKey: queue) else { return }
            for id in removed.entries.keys { release(id) }
        case .subscribe(let queue, let filter, let options, let identifier):
            queues[queue]?.subscriptions[filter] = (options, identifier)
        case .unsubscribe(let queue, let filter):
            queues[queue]?.subscriptions.removeValue(forKey: filter)
        case .retain(let topic, let message):
            // Hold the new one before letting the old go: the same id again nets out.
            if message != 0, messages[message] != nil {
                messages[message]!.references += 1
                if let previous = retained.updateValue(message, forKey: topic) { release(previous) }
            } else if let previous = retained.removeValue(forKey: topic) {
                release(previous)
            }
        case .will(let clientId, let message, let deadline):
            if message != 0, messages[message] != nil {
                messages[message]!.references += 1
                if let previous = wills.updateValue((message, deadline), forKey: clientId) { release(previous.message) }
            } else if let previous = wills.removeValue(forKey: clientId) {
                release(previous.message)
            }
        case .inbound(let queue, let packetId, let awaiting):
            if awaiting { queues[queue]?.inbound.insert(packetId) } else { queues[queue]?.inbound.remove(packetId) }
        case .dedup(let topic, let id, let seenAt):
            dedup[topic + "\u{0}" + id] = seenAt
        case .checkpointBegin(let nextMessage, let nextQueue):
            inCheckpoint = true
            nextMessageId = max(nextMessageId, nextMessage)
            nextQueueId = max(nextQueueId, nextQueue)
        case .checkpointEnd:
            inCheckpoint = false
        }
    }

    /// Returns false for a message already known (a checkpoint's copy).
    @discardableResult
    private mutating func addMessage(id: UInt64, expiresAt: UInt64, body: StoredMessage?, at location: Location) -> Bool {
        nextMessageId = max(nextMessageId, id + 1)
        if messages[id] != nil {
            messages[id]!.location = location  // a checkpoint's copy: the old one goes with its segment
            return false
        }
        var info = MessageInfo(location: location, references: 0, expiresAt: expiresAt)
        if let body {
            info.bodyIndex = Int32(bodies.count)
            bodies.append(body)
        }
        messages[id] = info
        liveMessageBytes += location.length
        return true
    }

    private mutating func enqueue(_ entry: QueueEntry) {
        guard queues[entry.queue] != nil, let index = messages.index(forKey: entry.message) else { return }
        var new = Entry(entry: entry)
        if !early.isEmpty {
            let (removed, handshake) = early.take(QueueMessage(queue: entry.queue, message: entry.message))
            if removed { return }
            new.packetId = handshake?.packetId
            new.released = handshake?.released ?? false
        }
        // One hash on the common path (a new entry); the rare one below
        // fixes the entry up.
        if let existing = queues[entry.queue]!.entries.updateValue(new, forKey: entry.message) {
            // Already queued (a checkpoint cut short, replayed over the log it
            // summarised, or a retained message queued again on subscribe):
            // its QoS 2 progress stands, or a restart would resend the
            // PUBLISH under a new packet id and the client take it twice.
            let packetId = new.packetId ?? existing.packetId
            let released = new.released || existing.released
            if packetId != new.packetId || released != new.released {
                new.packetId = packetId
                new.released = released
                queues[entry.queue]!.entries[entry.message] = new
            }
            return
        }
        if keepsBodies { queues[entry.queue]!.order.append(entry.message) }
        messages.values[index].references += 1
    }

    /// A record about message `id` came before the message itself: a crash
    /// may lose the message record, and its id must not be handed out again
    /// (the new message would inherit these records).
    private mutating func sawMessageId(_ id: UInt64) {
        nextMessageId = max(nextMessageId, id + 1)
    }

    private mutating func release(_ id: UInt64) {
        guard let info = messages[id] else { return }
        if info.references <= 1 {
            messages.removeValue(forKey: id)
            if keepsBodies, info.bodyIndex >= 0 { bodies[Int(info.bodyIndex)] = nil }
            liveMessageBytes -= info.location.length
        } else {
            messages[id]!.references -= 1
        }
    }

    /// Takes messages whose expiry passed out of every queue (nobody writes
    /// a removal for them: they simply are never delivered).
    mutating func dropExpired(before wallNow: UInt64) {
        let expired = Set(messages.filter { $0.value.expiresAt != 0 && $0.value.expiresAt <= wallNow }.keys)
        guard !expired.isEmpty else { return }
        for id in queues.keys {
            for message in queues[id]!.entries.keys where expired.contains(message) {
                queues[id]!.entries.removeValue(forKey: message)
                release(message)
            }
        }
    }

    /// Drops message records nothing holds: written for a queue that had
    /// ended, or whose every queue removed it early (at a checkpoint).
    mutating func sweepUnreferenced() {
        for (id, info) in messages where info.references == 0 {
            messages.removeValue(forKey: id)
            if keepsBodies, info.bodyIndex >= 0 { bodies[Int(info.bodyIndex)] = nil }
            liveMessageBytes -= info.location.length
        }
    }

    /// Forgets de-duplication ids seen before `cutoff` (at a checkpoint).
    mutating func prune(dedupBefore cutoff: UInt64) {
        dedup = dedup.filter { $0.value >= cutoff }
    }

    /// A checkpoint is being written: early records that waited through the
    /// previous one too are for messages that will never come.
    mutating func ageEarlyRecords() {
        early.checkpointed()
    }
}

extension DurableState {
    /// A checkpoint copied the message record to `location`.
    mutating func relocate(_ id: UInt64, to location: Location) {
        messages[id]?.location = location
    }
}
