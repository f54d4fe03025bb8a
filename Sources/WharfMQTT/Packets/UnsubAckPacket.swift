import NIOCore

/// UNSUBACK: confirms an UNSUBSCRIBE (5.0 adds a reason code per filter).
public struct UnsubAckPacket: Sendable, Hashable {
    public var packetId: UInt16
    public var properties: MQTTProperties

    public init(packetId: UInt16, properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.properties = properties
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        FixedHeader.write(type: .unsuback, flags: 0, remainingLength: 2, into: &buffer)
        buffer.writeInteger(packetId)
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> UnsubAckPacket {
        UnsubAckPacket(packetId: try body.readMQTTUInt16("packet identifier"))
    }
}
