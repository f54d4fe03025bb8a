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
/// Times travel as wall clock: monotonic clocks mean nothing on another
/// machine, and a retained entry read by a node that starts an hour later
/// must still expire when it should. Clock skew between nodes shifts
/// cross-node latency figures and expiry by as much (NTP keeps it small).
public enum ClusterEnvelope {
    static let version: UInt8 = 1

    public static func encode(_ message: Message, clock: WallClock = .now()) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(encodedCount(message))
        encode(message, into: &buffer, clock: clock)
        return buffer
    }

    /// Bytes `encode` writes for `message`.
    public static func encodedCount(_ message: Message) -> Int {
        24 + message.topic.utf8.count + (message.forwardedProperties?.readableBytes ?? 0) + message.payload.readableBytes
    }

    /// Writes the envelope into `buffer` (a connection's outbound buffer: no copy of its own).
    public static func encode(_ message: Message, into buffer: inout ByteBuffer, clock: WallClock = .now()) {
        let properties = message.forwardedProperties?.readableBytes ?? 0
        var flags = UInt8(message.qos.rawValue)
        if message.retain { flags |= 1 << 2 }
        if message.forwardsExpiry { flags |= 1 << 3 }
        if message.expiresAtNanos != nil { flags |= 1 << 4 }
        buffer.writeInteger(version)
        buffer.writeInteger(flags)
        buffer.writeInteger(clock.wall(message.publishedAtNanos))
        buffer.writeInteger(message.expiresAtNanos.map(clock.wall) ?? 0)
        buffer.writeInteger(UInt16(truncatingIfNeeded: message.topic.utf8.count))
        buffer.writeString(message.topic)
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
        var buffer = bytes
        guard buffer.readInteger(as: UInt8.self) == version, let flags = buffer.readInteger(as: UInt8.self),
            let qos = QoS(rawValue: flags & 0b11), let published = buffer.readInteger(as: UInt64.self),
            let expires = buffer.readInteger(as: UInt64.self), let topicLength = buffer.readInteger(as: UInt16.self),
            let topic = buffer.readString(length: Int(topicLength)), let propertiesLength = buffer.readInteger(as: UInt32.self),
            buffer.readableBytes >= Int(propertiesLength)
        else { return nil }
        let properties = propertiesLength > 0 ? buffer.readSlice(length: Int(propertiesLength)) : nil
        let retain = flags & (1 << 2) != 0
        return Message(
            topic: topic, payload: buffer, qos: qos, retain: retain, publishedAtNanos: clock.monotonic(published),
            expiresAtNanos: flags & (1 << 4) != 0 ? clock.monotonic(expires) : nil, forwardedProperties: properties,
            forwardsExpiry: flags & (1 << 3) != 0, journalId: journalId(qos, retain))
    }
}
