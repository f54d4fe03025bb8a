import NIOCore

/// DISCONNECT: a clean end of the connection. In 5.0 either side sends it,
/// with a reason code (0x04 asks the server to publish the will anyway) and
/// properties (a new session expiry interval, a reason string).
public struct DisconnectPacket: Sendable, Hashable {
    public var reasonCode: UInt8
    public var properties: MQTTProperties

    public init(reasonCode: UInt8 = 0, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> DisconnectPacket {
        guard version == .v5, body.readableBytes > 0 else { return DisconnectPacket() }
        let code = try body.readMQTTByte("reason code")
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, in: .disconnect, packet: "DISCONNECT") : .none
        return DisconnectPacket(reasonCode: code, properties: properties)
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        guard version == .v5, reasonCode != 0 || !properties.isEmpty else {
            FixedHeader.write(type: .disconnect, flags: 0, remainingLength: 0, into: &buffer)
            return
        }
        FixedHeader.write(type: .disconnect, flags: 0, remainingLength: 1 + properties.wireSize, into: &buffer)
        buffer.writeInteger(reasonCode)
        properties.write(into: &buffer)
    }
}
