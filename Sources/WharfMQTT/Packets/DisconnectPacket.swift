import NIOCore

/// DISCONNECT: a clean end of the connection (no will is sent). In 5.0 the
/// server sends it too, with a reason code.
public struct DisconnectPacket: Sendable, Hashable {
    public var reasonCode: UInt8
    public var properties: MQTTProperties

    public init(reasonCode: UInt8 = 0, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> DisconnectPacket {
        DisconnectPacket()
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        FixedHeader.write(type: .disconnect, flags: 0, remainingLength: 0, into: &buffer)
    }
}
