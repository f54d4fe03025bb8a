import NIOCore

/// One MQTT control packet, in either direction.
public enum MQTTPacket: Sendable, Hashable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PublishAckPacket)
    case pubrec(PublishAckPacket)
    case pubrel(PublishAckPacket)
    case pubcomp(PublishAckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)

    public var type: PacketType {
        switch self {
        case .connect: return .connect
        case .connack: return .connack
        case .publish: return .publish
        case .puback: return .puback
        case .pubrec: return .pubrec
        case .pubrel: return .pubrel
        case .pubcomp: return .pubcomp
        case .subscribe: return .subscribe
        case .suback: return .suback
        case .unsubscribe: return .unsubscribe
        case .unsuback: return .unsuback
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect
        case .auth: return .auth
        }
    }

    /// Appends the whole packet (fixed header and body) to `buffer`.
    public func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        switch self {
        case .connect(let packet): packet.encode(into: &buffer)
        case .connack(let packet): packet.encode(into: &buffer, version: version)
        case .publish(let packet): packet.encode(into: &buffer, version: version)
        case .puback(let ack): ack.encode(type: .puback, into: &buffer, version: version)
        case .pubrec(let ack): ack.encode(type: .pubrec, into: &buffer, version: version)
        case .pubrel(let ack): ack.encode(type: .pubrel, into: &buffer, version: version)
        case .pubcomp(let ack): ack.encode(type: .pubcomp, into: &buffer, version: version)
        case .subscribe(let packet): packet.encode(into: &buffer, version: version)
        case .suback(let packet): packet.encode(into: &buffer, version: version)
        case .unsubscribe(let packet): packet.encode(into: &buffer, version: version)
        case .unsuback(let packet): packet.encode(into: &buffer, version: version)
        case .pingreq: FixedHeader.write(type: .pingreq, flags: 0, remainingLength: 0, into: &buffer)
        case .pingresp: FixedHeader.write(type: .pingresp, flags: 0, remainingLength: 0, into: &buffer)
        case .disconnect(let packet): packet.encode(into: &buffer, version: version)
        case .auth(let packet): packet.encode(into: &buffer)
        }
    }

    /// Decodes the body of a packet whose fixed header has been read.
    /// `body` holds exactly remaining-length bytes. Server-bound packets only
    /// unless `asClient` is set (the bench client decodes server packets).
    public static func decode(
        type: PacketType,
        flags: UInt8,
        body: inout ByteBuffer,
        version: ProtocolVersion,
        asClient: Bool = false,
        lastTopic: inout String
    ) throws(MQTTDecodeError) -> MQTTPacket {
        if type != .publish && flags != type.requiredFlags {
            throw .invalidFixedHeaderFlags(packetType: type.rawValue, flags: flags)
        }
        let packet: MQTTPacket
        switch type {
        case .connect: packet = .connect(try ConnectPacket.decode(&body))
        case .publish:
            packet = .publish(
                try PublishPacket.decode(flags: flags, body: &body, version: version, asClient: asClient, lastTopic: &lastTopic))
        case .puback: packet = .puback(try PublishAckPacket.decode(&body, version: version))
        case .pubrec: packet = .pubrec(try PublishAckPacket.decode(&body, version: version))
        case .pubrel: packet = .pubrel(try PublishAckPacket.decode(&body, version: version))
        case .pubcomp: packet = .pubcomp(try PublishAckPacket.decode(&body, version: version))
        case .subscribe: packet = .subscribe(try SubscribePacket.decode(&body, version: version))
        case .unsubscribe: packet = .unsubscribe(try UnsubscribePacket.decode(&body, version: version))
        case .pingreq: packet = .pingreq
        case .disconnect: packet = .disconnect(try DisconnectPacket.decode(&body, version: version))
        case .connack where asClient: packet = .connack(try ConnAckPacket.decode(&body, version: version))
        case .suback where asClient: packet = .suback(try SubAckPacket.decode(&body, version: version))
        case .unsuback where asClient: packet = .unsuback(try UnsubAckPacket.decode(&body, version: version))
        case .pingresp where asClient: packet = .pingresp
        case .connack, .suback, .unsuback, .pingresp:
            throw .clientOnlyPacket(type.description)
        case .auth:
            // AUTH exists only in 5.0; under 3.1.1 type 15 is reserved.
            guard version == .v5 else { throw .reservedPacketType(type.rawValue) }
            packet = .auth(try AuthPacket.decode(&body))
        }
        if body.readableBytes > 0 {
            throw .trailingBytes(packet: type.description, count: body.readableBytes)
        }
        return packet
    }
}
