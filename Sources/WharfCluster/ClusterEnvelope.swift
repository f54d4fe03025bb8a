import NIOCore
import WharfCore
import WharfMQTT

/// A message as it travels between nodes (forwards, retained entries): a
/// small binary header, then the payload. Binary rather than NATS headers,
/// because an MQTT topic may hold bytes a header may not (CR, LF), and one
/// buffer copy is all a forward costs.
///
/// Layout, version 1 (integers big-endian):
/// `u8 version, u8 flags (bits 0-1 QoS, 2 retain, 3 forwards expiry, 4 has
/// expiry), u64 published (Unix ns), u64 expires (Unix ns; 0 without),
/// u16 topic length, topic, u32 properties length, the 5.0
/// properties subscribers see (as encoded in `Message.forwardedProperties`),
/// payload`.
///
/// Version 2 is version 1 with `u16 length, exchange key` after the topic:
/// the inbound QoS 2 exchange the message belongs to
/// (`InboundExchange.key`), which the receiving node routes once. Only
/// such messages use it, so a node that knows only version 1 refuses
/// them (counted) rather than misreading them.
///
/// Times travel as wall clock: monotonic clocks mean nothing on another
/// machine, and a retained entry read by a node that starts an hour later
/// must still expire when it should. Clock skew between nodes shifts
/// cross-node latency figures and expiry by as much (NTP keeps it small).
public enum ClusterEnvelope {
    static let version: UInt8 = 1
    static let exchangeVersion: UInt8 = 2

    public static func encode(_ message: Message, exchange: String? = nil, clock: WallClock = .now()) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(encodedCount(message, exchange: exchange))
        encode(message, exchange: exchange, into: &buffer, clock: clock)
        return buffer
    }

    /// Bytes `encode` writes for `message`.
    public static func encodedCount(_ message: Message, exchange: String? = nil) -> Int {
        24 + message.topic.utf8.count + (message.forwardedProperties?.readableBytes ?? 0) + message.payload.readableBytes
            + (exchange.map { 2 + $0.utf8.count } ?? 0)
    }

    /// Writes the envelope into `buffer` (a connection's outbound buffer: no copy of its own).
    public static func encode(
        _ message: Message, exchange: String? = nil, into buffer: inout ByteBuffer, clock: WallClock = .now()
    ) {
        let properties = message.forwardedProperties?.readableBytes ?? 0
        var flags = UInt8(message.qos.rawValue)
        if message.retain { flags |= 1 << 2 }
        if message.forwardsExpiry { flags |= 1 << 3 }
        if message.expiresAtNanos != nil { flags |= 1 << 4 }
        // A key longer than its length field (a client id near 64 KiB) goes
        // without: the message is routed, only not recognised if sent again.
        let exchange = exchange.flatMap { $0.utf8.count <= Int(UInt16.max) ? $0 : nil }
        buffer.writeInteger(exchange == nil ? version : exchangeVersion)
        buffer.writeInteger(flags)
        buffer.writeInteger(clock.wall(message.publishedAtNanos))
        buffer.writeInteger(message.expiresAtNanos.map(clock.wall) ?? 0)
        buffer.writeInteger(UInt16(truncatingIfNeeded: message.topic.utf8.count))
        buffer.writeString(message.topic)
        if let exchange {
            buffer.writeInteger(UInt16(exchange.utf8.count))
            buffer.writeString(exchange)
        }
        buffer.writeInteger(UInt32(properties))
        if var forwarded = message.forwardedProperties { buffer.writeBuffer(&forwarded) }
        var payload = message.payload
        buffer.writeBuffer(&payload)
    }

    /// The message back, its times on this node's clocks; `journalId` for
    /// a local journal that will keep it. Nil for bytes that are not an
    /// envelope of this version (counted by the caller, never trapped on).
    public static func decode(_ bytes: ByteBuffer, journalId: (QoS, Bool) -> UInt64 = { _, _ in 0 }, clock: WallClock = .now())
        -> Message?
    {
        decodeForward(bytes, journalId: journalId, clock: clock)?.message
    }

    /// `decode`, with the key of the inbound QoS 2 exchange the message
    /// belongs to (version 2), if any.
    public static func decodeForward(
        _ bytes: ByteBuffer, journalId: (QoS, Bool) -> UInt64 = { _, _ in 0 }, clock: WallClock = .now()
    ) -> (message: Message, exchange: String?)? {
        var buffer = bytes
        guard let found = buffer.readInteger(as: UInt8.self), found == version || found == exchangeVersion,
            let flags = buffer.readInteger(as: UInt8.self),
            let qos = QoS(rawValue: flags & 0b11), let published = buffer.readInteger(as: UInt64.self),
            let expires = buffer.readInteger(as: UInt64.self), let topicLength = buffer.readInteger(as: UInt16.self),
            let topic = buffer.readString(length: Int(topicLength))
        else { return nil }
        var exchange: String?
        if found == exchangeVersion {
            guard let length = buffer.readInteger(as: UInt16.self), let key = buffer.readString(length: Int(length)) else { return nil }
            exchange = key
        }
        guard let propertiesLength = buffer.readInteger(as: UInt32.self), buffer.readableBytes >= Int(propertiesLength) else {
            return nil
        }
        let properties = propertiesLength > 0 ? buffer.readSlice(length: Int(propertiesLength)) : nil
        let retain = flags & (1 << 2) != 0
        let message = Message(
            topic: topic, payload: buffer, qos: qos, retain: retain, publishedAtNanos: clock.monotonic(published),
            expiresAtNanos: flags & (1 << 4) != 0 ? clock.monotonic(expires) : nil, forwardedProperties: properties,
            forwardsExpiry: flags & (1 << 3) != 0, journalId: journalId(qos, retain))
        return (message, exchange)
    }
}
