import NIOCore

/// Splits a byte stream into MQTT packets: a value-type state machine with no
/// NIO channel in it, so tests can drip-feed it byte by byte.
///
/// A packet larger than `maxPacketSize` is refused as soon as its remaining
/// length is known, before its body is buffered.
public struct MQTTPacketParser: Sendable {
    public var maxPacketSize: Int
    /// The protocol level in force; set from the CONNECT that was parsed.
    public private(set) var version: ProtocolVersion
    /// The bench client parses server-to-client packets.
    public var asClient: Bool
    /// Wire size of the packet most recently returned by `parse`.
    public private(set) var lastPacketSize = 0
    /// The topic of the last PUBLISH: a client publishing to the same topic
    /// again gets this string back (no allocation, no UTF-8 or wildcard
    /// check: it passed them), see `PublishPacket.decode`.
    private var lastTopic = ""

    public init(maxPacketSize: Int = ByteBuffer.maxVariableByteInteger + 5, version: ProtocolVersion = .v3_1_1, asClient: Bool = false) {
        self.maxPacketSize = maxPacketSize
        self.version = version
        self.asClient = asClient
    }

    /// Returns the next whole packet, or nil when more bytes are needed.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTPacket? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        // Type 0 is reserved, and so is 15 (AUTH) before 5.0: refused from the
        // first byte, before any body is buffered.
        guard let type = PacketType(rawValue: first >> 4), type != .auth || version == .v5 else {
            throw .reservedPacketType(first >> 4)
        }
        guard let (remaining, lengthBytes) = try buffer.getVariableByteInteger(at: buffer.readerIndex + 1) else {
            return nil
        }
        let total = 1 + lengthBytes + remaining
        guard total <= maxPacketSize else { throw .packetTooLarge(size: total, limit: maxPacketSize) }
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: 1 + lengthBytes)
        var body = buffer.readSlice(length: remaining)!
        let packet = try MQTTPacket.decode(
            type: type, flags: first & 0x0F, body: &body, version: version, asClient: asClient, lastTopic: &lastTopic
        )
        if case .connect(let connect) = packet { version = connect.version }
        lastPacketSize = total
        return packet
    }
}
