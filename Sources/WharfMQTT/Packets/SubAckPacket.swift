import NIOCore

/// SUBACK: one return (5.0: reason) code per filter of the SUBSCRIBE, in order.
public struct SubAckPacket: Sendable, Hashable {
    public var packetId: UInt16
    public var returnCodes: [SubscribeReturnCode]
    public var properties: MQTTProperties

    public init(packetId: UInt16, returnCodes: [SubscribeReturnCode], properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.returnCodes = returnCodes
        self.properties = properties
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let v5 = version == .v5
        FixedHeader.write(type: .suback, flags: 0, remainingLength: 2 + (v5 ? properties.wireSize : 0) + returnCodes.count, into: &buffer)
        buffer.writeInteger(packetId)
        if v5 { properties.write(into: &buffer) }
        // 3.1.1 knows one failure code.
        for code in returnCodes { buffer.writeInteger(v5 || code.rawValue < 0x80 ? code.rawValue : 0x80) }
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> SubAckPacket {
        let id = try body.readMQTTUInt16("packet identifier")
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, in: .suback, packet: "SUBACK") : .none
        var codes: [SubscribeReturnCode] = []
        while body.readableBytes > 0 {
            codes.append(SubscribeReturnCode(rawValue: try body.readMQTTByte("return code")))
        }
        return SubAckPacket(packetId: id, returnCodes: codes, properties: properties)
    }
}
