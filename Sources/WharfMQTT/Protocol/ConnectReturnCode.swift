/// The code in CONNACK. 3.1.1 uses 0...5; MQTT 5.0 reason codes (0x80 and up)
/// share the same byte, so this type stays the same when 5.0 arrives.
public struct ConnectReturnCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let accepted = ConnectReturnCode(rawValue: 0x00)
    public static let unacceptableProtocolVersion = ConnectReturnCode(rawValue: 0x01)
    public static let identifierRejected = ConnectReturnCode(rawValue: 0x02)
    public static let serverUnavailable = ConnectReturnCode(rawValue: 0x03)
    public static let badUsernameOrPassword = ConnectReturnCode(rawValue: 0x04)
    public static let notAuthorized = ConnectReturnCode(rawValue: 0x05)

    /// The 5.0 reason code for a 3.1.1 return code (3.1.1 codes 1...5 have
    /// 5.0 counterparts; 5.0 codes pass through).
    public var v5ReasonCode: UInt8 {
        switch self {
        case .unacceptableProtocolVersion: return ReasonCode.unsupportedProtocolVersion
        case .identifierRejected: return ReasonCode.clientIdentifierNotValid
        case .serverUnavailable: return ReasonCode.serverUnavailable
        case .badUsernameOrPassword: return ReasonCode.badUserNameOrPassword
        case .notAuthorized: return ReasonCode.notAuthorized
        default: return rawValue
        }
    }

    public var description: String {
        switch self {
        case .accepted: return "accepted"
        case .unacceptableProtocolVersion: return "unacceptable protocol version"
        case .identifierRejected: return "identifier rejected"
        case .serverUnavailable: return "server unavailable"
        case .badUsernameOrPassword: return "bad user name or password"
        case .notAuthorized: return "not authorized"
        default: return "code 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// A per-filter result in SUBACK: the granted QoS, or 0x80 for failure
/// (5.0: a reason code of 0x80 or more).
public struct SubscribeReturnCode: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(granted qos: QoS) { self.rawValue = qos.rawValue }

    public static let failure = SubscribeReturnCode(rawValue: 0x80)
    /// 5.0: the filter is not a valid topic filter (3.1.1 clients see 0x80).
    public static let topicFilterInvalid = SubscribeReturnCode(rawValue: 0x8F)
    /// 5.0: a limit refused the filter (too many filters in one SUBSCRIBE, or
    /// in one session); 3.1.1 clients see 0x80.
    public static let quotaExceeded = SubscribeReturnCode(rawValue: ReasonCode.quotaExceeded)
    /// 5.0: the server's authorization refuses the filter (3.1.1 gets `failure`).
    public static let notAuthorized = SubscribeReturnCode(rawValue: ReasonCode.notAuthorized)

    public var grantedQoS: QoS? { rawValue < 0x80 ? QoS(rawValue: rawValue) : nil }
}
