import NIOCore

/// CONNACK: the server's answer to CONNECT. In 5.0 the code is a reason code
/// and the server states its limits in properties.
public struct ConnAckPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    public var returnCode: ConnectReturnCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool, returnCode: ConnectReturnCode, properties: MQTTProperties = .none) {
        self.sessionPresent = sessionPresent
        self.returnCode = returnCode
        self.properties = properties
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let v5 = version == .v5
        FixedHeader.write(type: .connack, flags: 0, remainingLength: 2 + (v5 ? properties.wireSize : 0), into: &buffer)
        // 3.1 (MQIsdp) has no session present flag: its first byte is reserved.
        buffer.writeInteger(UInt8(sessionPresent && version != .v3_1 ? 1 : 0))
        buffer.writeInteger(v5 ? returnCode.v5ReasonCode : returnCode.rawValue)
        if v5 { properties.write(into: &buffer) }
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> ConnAckPacket {
        let flags = try body.readMQTTByte("connack flags")
        let code = try body.readMQTTByte("connect return code")
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, in: .connack, packet: "CONNACK") : .none
        return ConnAckPacket(sessionPresent: flags & 1 == 1, returnCode: ConnectReturnCode(rawValue: code), properties: properties)
    }
}
