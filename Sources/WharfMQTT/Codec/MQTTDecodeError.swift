/// Why an inbound byte stream is not a valid MQTT packet.
///
/// Every case closes the connection (3.1.1 section 4.8); `reasonCode` is the
/// MQTT 5.0 code a 5.0 server puts in its DISCONNECT for it.
public enum MQTTDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    case malformedRemainingLength
    case packetTooLarge(size: Int, limit: Int)
    case reservedPacketType(UInt8)
    case invalidFixedHeaderFlags(packetType: UInt8, flags: UInt8)
    case truncated(field: String)
    case trailingBytes(packet: String, count: Int)
    case invalidUTF8
    case nullCharacterInString
    case invalidQoS(UInt8)
    case invalidProtocolName(String)
    case unsupportedProtocolVersion(UInt8)
    case reservedConnectFlagSet
    case invalidWillFlags
    case passwordWithoutUsername
    case invalidTopicName(String)
    case zeroPacketIdentifier
    case emptySubscriptionList
    case emptyUnsubscribeList
    case reservedSubscriptionOptionBits(UInt8)
    case clientOnlyPacket(String)
    // MQTT 5.0
    case unknownProperty(Int)
    case propertyNotAllowed(property: UInt8, packet: String)
    case duplicateProperty(UInt8)
    case invalidPropertyValue(property: UInt8, value: Int)
    case invalidReasonCode(UInt8, packet: String)
    case invalidRetainHandling
    /// A SUBSCRIBE asking for QoS 3: 3.1.1 calls it malformed, 5.0 a
    /// Protocol Error (section 3.8.3.1).
    case invalidSubscriptionQoS

    /// MQTT 5.0 reason code: 0x81 malformed packet, 0x82 protocol error,
    /// 0x84 unsupported protocol version, 0x95 packet too large.
    public var reasonCode: UInt8 {
        switch self {
        case .packetTooLarge: return 0x95
        case .unsupportedProtocolVersion: return 0x84
        case .clientOnlyPacket, .reservedPacketType, .duplicateProperty, .invalidPropertyValue, .invalidRetainHandling,
            .emptySubscriptionList, .emptyUnsubscribeList, .invalidSubscriptionQoS:
            // 5.0 sections 3.8.3 and 3.10.3: a SUBSCRIBE or UNSUBSCRIBE with
            // no filter is a Protocol Error.
            return 0x82
        default: return 0x81
        }
    }

    /// Short stable label for counting drops by cause.
    public var metricLabel: String {
        switch self {
        case .malformedRemainingLength: return "remaining_length"
        case .packetTooLarge: return "packet_too_large"
        case .reservedPacketType: return "reserved_packet_type"
        case .invalidFixedHeaderFlags: return "header_flags"
        case .truncated, .trailingBytes: return "length_mismatch"
        case .invalidUTF8, .nullCharacterInString: return "invalid_utf8"
        case .invalidQoS: return "invalid_qos"
        case .invalidProtocolName, .unsupportedProtocolVersion: return "protocol"
        case .reservedConnectFlagSet, .invalidWillFlags, .passwordWithoutUsername: return "connect_flags"
        case .invalidTopicName: return "topic_name"
        case .zeroPacketIdentifier: return "packet_id"
        case .emptySubscriptionList, .emptyUnsubscribeList, .reservedSubscriptionOptionBits: return "subscription"
        case .clientOnlyPacket: return "unexpected_packet"
        case .unknownProperty, .propertyNotAllowed, .duplicateProperty, .invalidPropertyValue: return "property"
        case .invalidReasonCode: return "reason_code"
        case .invalidRetainHandling, .invalidSubscriptionQoS: return "subscription"
        }
    }

    public var description: String {
        switch self {
        case .malformedRemainingLength: return "malformed remaining length"
        case .packetTooLarge(let size, let limit): return "packet of \(size) bytes exceeds the limit of \(limit)"
        case .reservedPacketType(let type): return "reserved packet type \(type)"
        case .invalidFixedHeaderFlags(let type, let flags):
            return "invalid fixed header flags 0x\(String(flags, radix: 16)) for packet type \(type)"
        case .truncated(let field): return "packet ends inside \(field)"
        case .trailingBytes(let packet, let count): return "\(count) unexpected bytes after \(packet)"
        case .invalidUTF8: return "string is not well-formed UTF-8"
        case .nullCharacterInString: return "string contains U+0000"
        case .invalidQoS(let value): return "invalid QoS \(value)"
        case .invalidProtocolName(let name): return "invalid protocol name \"\(ReasonString.excerpt(name))\""
        case .unsupportedProtocolVersion(let level): return "unsupported protocol level \(level)"
        case .reservedConnectFlagSet: return "CONNECT reserved flag is set"
        case .invalidWillFlags: return "will QoS or retain set without the will flag"
        case .passwordWithoutUsername: return "password flag set without user name flag"
        case .invalidTopicName(let topic): return "invalid topic name \"\(ReasonString.excerpt(topic))\""
        case .zeroPacketIdentifier: return "packet identifier is 0"
        case .emptySubscriptionList: return "SUBSCRIBE with no topic filter"
        case .emptyUnsubscribeList: return "UNSUBSCRIBE with no topic filter"
        case .reservedSubscriptionOptionBits(let byte):
            return "reserved bits set in subscription options 0x\(String(byte, radix: 16))"
        case .clientOnlyPacket(let name): return "\(name) must not be sent by a client"
        case .unknownProperty(let id): return "unknown property identifier 0x\(String(id, radix: 16))"
        case .propertyNotAllowed(let id, let packet): return "property 0x\(String(id, radix: 16)) is not allowed in \(packet)"
        case .duplicateProperty(let id): return "property 0x\(String(id, radix: 16)) appears more than once"
        case .invalidPropertyValue(let id, let value): return "property 0x\(String(id, radix: 16)) has the invalid value \(value)"
        case .invalidReasonCode(let code, let packet): return "reason code 0x\(String(code, radix: 16)) is not valid in \(packet)"
        case .invalidRetainHandling: return "retain handling 3 in subscription options"
        case .invalidSubscriptionQoS: return "maximum QoS 3 in subscription options"
        }
    }
}
