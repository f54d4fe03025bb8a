import NIOCore

/// Records a connection (or the broker) wrote since its last submission,
/// already framed, so the writer thread only copies bytes. One per
/// connection, used on its event loop only; reused after every submit, so
/// steady traffic allocates nothing here.
public struct StorageBatch: Sendable {
    public private(set) var bytes: ByteBuffer
    /// Records in `bytes`.
    public private(set) var records = 0
    /// Set by records a client must not be answered before they are durable
    /// (a publish, a subscription, inbound QoS 2 state): the connection then
    /// holds its replies until the writer says so.
    public private(set) var needsDurableReply = false
    private var frameStart = -1
    private var targetCountAt = -1
    private var targetCount: UInt16 = 0

    /// The connection's replies must wait for what was submitted before
    /// (records the broker wrote on its behalf, in their own batch).
    public mutating func requireDurableReply() { needsDurableReply = true }

    public init(capacity: Int = 4096) {
        bytes = ByteBuffer()
        bytes.reserveCapacity(capacity)
    }

    public var isEmpty: Bool { records == 0 }

    /// Empties the batch, keeping its storage when nothing else holds it.
    public mutating func reset() {
        bytes.clear()
        records = 0
        needsDurableReply = false
    }

    // MARK: Framing

    private mutating func begin(_ kind: StorageRecord.Kind) {
        frameStart = bytes.writerIndex
        bytes.writeInteger(UInt64(0))  // length and CRC, patched by `end`
        bytes.writeInteger(kind.rawValue)
    }

    private mutating func end() {
        let bodyStart = frameStart + 8
        let length = bytes.writerIndex - bodyStart
        let crc = CRC32C.checksum(bytes, at: bodyStart, length: length)
        bytes.setInteger(UInt32(length), at: frameStart, endianness: .little)
        bytes.setInteger(crc, at: frameStart + 4, endianness: .little)
        frameStart = -1
        records += 1
    }

    private mutating func u8(_ v: UInt8) { bytes.writeInteger(v) }
    private mutating func u16(_ v: UInt16) { bytes.writeInteger(v, endianness: .little) }
    private mutating func u32(_ v: UInt32) { bytes.writeInteger(v, endianness: .little) }
    private mutating func u64(_ v: UInt64) { bytes.writeInteger(v, endianness: .little) }
    private mutating func string16(_ s: String) {
        let at = bytes.writerIndex
        u16(0)
        let written = bytes.writeString(s)
        bytes.setInteger(UInt16(min(written, Int(UInt16.max))), at: at, endianness: .little)
    }
    private mutating func bytes32(_ b: ByteBuffer) {
        u32(UInt32(b.readableBytes))
        var copy = b
        bytes.writeBuffer(&copy)
    }
    private mutating func entry(_ e: QueueEntry) {
        u64(e.queue)
        u8(e.qos)
        u8((e.retain ? 1 : 0) | (e.onSubscribe ? 2 : 0))
        u16(e.attempts)
        let ids = e.subscriptionIds.prefix(255)
        u8(UInt8(ids.count))
        for id in ids { u32(id) }
    }

    // MARK: Messages

    /// Starts a message record; add its queues with `addTarget`, then
    /// `endMessage`. Nothing else may be written in between.
    public mutating func beginMessage(_ m: StoredMessage) {
        begin(.message)
        u64(m.id)
        u8(m.qos)
        u8((m.retain ? 1 : 0) | (m.forwardsExpiry ? 2 : 0) | (m.properties != nil ? 4 : 0))
        u64(m.publishedAt)
        u64(m.expiresAt)
        string16(m.topic)
        bytes32(m.payload)
        if let properties = m.properties { bytes32(properties) }
        targetCountAt = bytes.writerIndex
        targetCount = 0
        u16(0)
    }

    public mutating func addTarget(queue: UInt64, qos: UInt8, retain: Bool, subscriptionIds: [UInt32] = []) {
        entry(QueueEntry(queue: queue, message: 0, qos: qos, retain: retain, subscriptionIds: subscriptionIds))
        targetCount &+= 1
    }

    /// Closes the message record. `durable` says the publisher's reply must
    /// wait for it.
    public mutating func endMessage(durableReply: Bool = true) {
        bytes.setInteger(targetCount, at: targetCountAt, endianness: .little)
        end()
        if durableReply { needsDurableReply = true }
    }

    /// A whole message record at once (wills, dead letters, tests).
    public mutating func message(_ m: StoredMessage, targets: [QueueEntry] = [], durableReply: Bool = true) {
        beginMessage(m)
        for t in targets { entry(t) }
        targetCount = UInt16(targets.count)
        endMessage(durableReply: durableReply)
    }

    // MARK: Other records

    public mutating func enqueue(_ e: QueueEntry) {
        begin(.enqueue)
        u64(e.message)
        entry(e)
        end()
    }

    public mutating func remove(queue: UInt64, message: UInt64) {
        begin(.remove)
        u64(queue)
        u64(message)
        end()
    }

    public mutating func sent(queue: UInt64, message: UInt64, packetId: UInt16) {
        begin(.sent)
        u64(queue)
        u64(message)
        u16(packetId)
        end()
    }

    /// The subscriber sent PUBREC. The PUBREL that answers it waits for this
    /// record: a subscriber that got PUBREL answers PUBCOMP and forgets the packet
    /// id, so a broker that lost the record would send the PUBLISH again after a
    /// crash and the subscriber would take it as a new message.
    public mutating func released(queue: UInt64, message: UInt64) {
        begin(.released)
        u64(queue)
        u64(message)
        end()
        needsDurableReply = true
    }

    public mutating func session(queue: UInt64, clientId: String, expiryInterval: UInt32) {
        begin(.session)
        u64(queue)
        u32(expiryInterval)
        string16(clientId)
        end()
        needsDurableReply = true
    }

    public mutating func sessionEnd(queue: UInt64) {
        begin(.sessionEnd)
        u64(queue)
        end()
    }

    public mutating func sessionOffline(queue: UInt64, expiresAt: UInt64) {
        begin(.sessionOffline)
        u64(queue)
        u64(expiresAt)
        end()
    }

    public mutating func subscribe(queue: UInt64, filter: String, options: UInt8, identifier: UInt32) {
        begin(.subscribe)
        u64(queue)
        u8(options)
        u32(identifier)
        string16(filter)
        end()
        needsDurableReply = true
    }

    public mutating func unsubscribe(queue: UInt64, filter: String) {
        begin(.unsubscribe)
        u64(queue)
        string16(filter)
        end()
        needsDurableReply = true
    }

    public mutating func group(queue: UInt64, name: String, filter: String) {
        begin(.group)
        u64(queue)
        string16(name)
        string16(filter)
        end()
    }

    public mutating func groupEnd(queue: UInt64) {
        begin(.groupEnd)
        u64(queue)
        end()
    }

    public mutating func retain(topic: String, message: UInt64) {
        begin(.retain)
        u64(message)
        string16(topic)
        end()
        needsDurableReply = true
    }

    public mutating func will(clientId: String, message: UInt64, deadline: UInt64) {
        begin(.will)
        u64(message)
        u64(deadline)
        string16(clientId)
        end()
    }

    public mutating func inbound(queue: UInt64, packetId: UInt16, awaiting: Bool) {
        begin(.inbound)
        u64(queue)
        u16(packetId)
        u8(awaiting ? 1 : 0)
        end()
        needsDurableReply = true
    }

    public mutating func dedup(topic: String, id: String, seenAt: UInt64) {
        begin(.dedup)
        u64(seenAt)
        string16(topic)
        string16(id)
        end()
    }

    mutating func checkpointBegin(nextMessageId: UInt64, nextQueueId: UInt64) {
        begin(.checkpointBegin)
        u64(nextMessageId)
        u64(nextQueueId)
        end()
    }

    mutating func checkpointEnd() {
        begin(.checkpointEnd)
        end()
    }

    /// Appends an already framed record (a message copied by a checkpoint).
    mutating func appendFrame(_ frame: ByteBuffer) {
        var copy = frame
        bytes.writeBuffer(&copy)
        records += 1
    }
}
