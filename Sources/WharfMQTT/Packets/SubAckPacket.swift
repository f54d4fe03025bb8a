import NIOCore

/// SUBACK: one return code per filter of the SUBSCRIBE, in order.
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
        FixedHeader.write(type: .suback, flags: 0, remainingLength: 2 + returnCodes.count, into: &buffer)
        buffer.writeInteger(packetId)
        for code in returnCodes { buffer.writeInteger(code.rawValue) }
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> SubAckPacket {
        let id = try body.readMQTTUInt16("packet identifier")
        var codes: [SubscribeReturnCode] = []
        while body.readableBytes > 0 {
            codes.append(SubscribeReturnCode(rawValue: try body.readMQTTByte("return code")))
        }
        return SubAckPacket(packetId: id, returnCodes: codes)
    }
}
