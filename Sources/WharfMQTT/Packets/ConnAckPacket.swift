import NIOCore

/// CONNACK: the server's answer to CONNECT.
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
        FixedHeader.write(type: .connack, flags: 0, remainingLength: 2, into: &buffer)
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        buffer.writeInteger(returnCode.rawValue)
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> ConnAckPacket {
        let flags = try body.readMQTTByte("connack flags")
        let code = try body.readMQTTByte("connect return code")
        return ConnAckPacket(sessionPresent: flags & 1 == 1, returnCode: ConnectReturnCode(rawValue: code))
    }
}
