import NIOCore

/// UNSUBACK: confirms an UNSUBSCRIBE; 5.0 adds a reason code per filter
/// (0x00 removed, 0x11 there was no such subscription).
public struct UnsubAckPacket: Sendable, Hashable {
    public var packetId: UInt16
    public var reasonCodes: [UInt8]
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCodes: [UInt8] = [], properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        guard version == .v5 else {
            FixedHeader.write(type: .unsuback, flags: 0, remainingLength: 2, into: &buffer)
            buffer.writeInteger(packetId)
            return
        }
        FixedHeader.write(type: .unsuback, flags: 0, remainingLength: 2 + properties.wireSize + reasonCodes.count, into: &buffer)
        buffer.writeInteger(packetId)
        properties.write(into: &buffer)
        for code in reasonCodes { buffer.writeInteger(code) }
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> UnsubAckPacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard version == .v5 else { return UnsubAckPacket(packetId: id) }
        let properties = try MQTTProperties.read(from: &body, in: .unsuback, packet: "UNSUBACK")
        var codes: [UInt8] = []
        while body.readableBytes > 0 { codes.append(try body.readMQTTByte("reason code")) }
        return UnsubAckPacket(packetId: id, reasonCodes: codes, properties: properties)
    }
}
