import NIOCore

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: a packet identifier
/// (and in 5.0 a reason code and properties). The enum case says which.
public struct PublishAckPacket: Sendable, Hashable {
    public var packetId: UInt16
    /// 5.0 reason code; 0x00 (success) is implied in 3.1.1.
    public var reasonCode: UInt8
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> PublishAckPacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .zeroPacketIdentifier }
        return PublishAckPacket(packetId: id)
    }

    func encode(type: PacketType, into buffer: inout ByteBuffer, version: ProtocolVersion) {
        FixedHeader.write(type: type, flags: type.requiredFlags, remainingLength: 2, into: &buffer)
        buffer.writeInteger(packetId)
    }
}
