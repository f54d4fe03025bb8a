import NIOCore

/// AUTH (5.0 only): a step of enhanced authentication.
public struct AuthPacket: Sendable, Hashable {
    public var reasonCode: UInt8
    public var properties: MQTTProperties

    public init(reasonCode: UInt8 = 0, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> AuthPacket {
        guard body.readableBytes > 0 else { return AuthPacket() }
        let code = try body.readMQTTByte("reason code")
        guard code == ReasonCode.success || code == ReasonCode.continueAuthentication || code == 0x19 else {
            throw .invalidReasonCode(code, packet: "AUTH")
        }
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, in: .auth, packet: "AUTH") : .none
        return AuthPacket(reasonCode: code, properties: properties)
    }

    func encode(into buffer: inout ByteBuffer) {
        FixedHeader.write(type: .auth, flags: 0, remainingLength: 1 + properties.wireSize, into: &buffer)
        buffer.writeInteger(reasonCode)
        properties.write(into: &buffer)
    }
}
