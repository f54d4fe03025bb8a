import NIOCore

/// UNSUBSCRIBE: one or more topic filters to remove.
public struct UnsubscribePacket: Sendable, Hashable {
    public var packetId: UInt16
    public var filters: [String]
    public var properties: MQTTProperties

    public init(packetId: UInt16, filters: [String], properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.filters = filters
        self.properties = properties
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> UnsubscribePacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .zeroPacketIdentifier }
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, in: .unsubscribe, packet: "UNSUBSCRIBE") : .none
        var filters: [String] = []
        while body.readableBytes > 0 {
            filters.append(try body.readMQTTString("topic filter"))
        }
        guard !filters.isEmpty else { throw .emptyUnsubscribeList }
        return UnsubscribePacket(packetId: id, filters: filters, properties: properties)
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let v5 = version == .v5
        let length = 2 + (v5 ? properties.wireSize : 0) + filters.reduce(0) { $0 + ByteBuffer.mqttStringSize($1) }
        FixedHeader.write(type: .unsubscribe, flags: PacketType.unsubscribe.requiredFlags, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetId)
        if v5 { properties.write(into: &buffer) }
        for filter in filters { buffer.writeMQTTString(filter) }
    }
}
