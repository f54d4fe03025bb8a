import NIOCore

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: a packet identifier
/// (and in 5.0 a reason code and properties). The enum case says which.
public struct PublishAckPacket: Sendable, Hashable {
    public var packetId: UInt16
    /// 5.0 reason code; 0x00 (success) is implied in 3.1.1. 0x80 and up is a
    /// failure: from a consumer, a negative acknowledgement.
    public var reasonCode: UInt8
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCode: UInt8 = 0, properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.reasonCode = reasonCode
        self.properties = properties
    }

    public var isFailure: Bool { reasonCode >= 0x80 }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> PublishAckPacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .zeroPacketIdentifier }
        // 5.0 section 3.4.2.1: a remaining length of 2 means success with no
        // properties; of 3, a reason code with no properties.
        guard version == .v5, body.readableBytes > 0 else { return PublishAckPacket(packetId: id) }
        let code = try body.readMQTTByte("reason code")
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, in: .publishAck, packet: "acknowledgement") : .none
        return PublishAckPacket(packetId: id, reasonCode: code, properties: properties)
    }

    func encode(type: PacketType, into buffer: inout ByteBuffer, version: ProtocolVersion) {
        guard version == .v5, reasonCode != 0 || !properties.isEmpty else {
            FixedHeader.write(type: type, flags: type.requiredFlags, remainingLength: 2, into: &buffer)
            buffer.writeInteger(packetId)
            return
        }
        let propertyBytes = properties.isEmpty ? 0 : properties.wireSize
        FixedHeader.write(type: type, flags: type.requiredFlags, remainingLength: 3 + propertyBytes, into: &buffer)
        buffer.writeInteger(packetId)
        buffer.writeInteger(reasonCode)
        if !properties.isEmpty { properties.write(into: &buffer) }
    }
}
