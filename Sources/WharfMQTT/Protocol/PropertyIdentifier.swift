/// The MQTT 5.0 property identifiers (section 2.2.2.2): for each, the wire
/// type of its value and the packets it may appear in.
public struct PropertyIdentifier: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let payloadFormatIndicator = PropertyIdentifier(rawValue: 0x01)
    public static let messageExpiryInterval = PropertyIdentifier(rawValue: 0x02)
    public static let contentType = PropertyIdentifier(rawValue: 0x03)
    public static let responseTopic = PropertyIdentifier(rawValue: 0x08)
    public static let correlationData = PropertyIdentifier(rawValue: 0x09)
    public static let subscriptionIdentifier = PropertyIdentifier(rawValue: 0x0B)
    public static let sessionExpiryInterval = PropertyIdentifier(rawValue: 0x11)
    public static let assignedClientIdentifier = PropertyIdentifier(rawValue: 0x12)
    public static let serverKeepAlive = PropertyIdentifier(rawValue: 0x13)
    public static let authenticationMethod = PropertyIdentifier(rawValue: 0x15)
    public static let authenticationData = PropertyIdentifier(rawValue: 0x16)
    public static let requestProblemInformation = PropertyIdentifier(rawValue: 0x17)
    public static let willDelayInterval = PropertyIdentifier(rawValue: 0x18)
    public static let requestResponseInformation = PropertyIdentifier(rawValue: 0x19)
    public static let responseInformation = PropertyIdentifier(rawValue: 0x1A)
    public static let serverReference = PropertyIdentifier(rawValue: 0x1C)
    public static let reasonString = PropertyIdentifier(rawValue: 0x1F)
    public static let receiveMaximum = PropertyIdentifier(rawValue: 0x21)
    public static let topicAliasMaximum = PropertyIdentifier(rawValue: 0x22)
    public static let topicAlias = PropertyIdentifier(rawValue: 0x23)
    public static let maximumQoS = PropertyIdentifier(rawValue: 0x24)
    public static let retainAvailable = PropertyIdentifier(rawValue: 0x25)
    public static let userProperty = PropertyIdentifier(rawValue: 0x26)
    public static let maximumPacketSize = PropertyIdentifier(rawValue: 0x27)
    public static let wildcardSubscriptionAvailable = PropertyIdentifier(rawValue: 0x28)
    public static let subscriptionIdentifierAvailable = PropertyIdentifier(rawValue: 0x29)
    public static let sharedSubscriptionAvailable = PropertyIdentifier(rawValue: 0x2A)

    /// How a property's value is written.
    public enum WireType: Sendable, Hashable {
        case byte, twoByteInteger, fourByteInteger, variableByteInteger, string, binary, stringPair
    }

    /// Where a property may appear. The will is not a packet but has its own
    /// property set inside CONNECT.
    public struct Context: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let connect = Context(rawValue: 1 << 0)
        public static let connack = Context(rawValue: 1 << 1)
        public static let publish = Context(rawValue: 1 << 2)
        public static let will = Context(rawValue: 1 << 3)
        /// PUBACK, PUBREC, PUBREL and PUBCOMP.
        public static let publishAck = Context(rawValue: 1 << 4)
        public static let subscribe = Context(rawValue: 1 << 5)
        public static let suback = Context(rawValue: 1 << 6)
        public static let unsubscribe = Context(rawValue: 1 << 7)
        public static let unsuback = Context(rawValue: 1 << 8)
        public static let disconnect = Context(rawValue: 1 << 9)
        public static let auth = Context(rawValue: 1 << 10)

        static let all: Context = [
            .connect, .connack, .publish, .will, .publishAck, .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth,
        ]
    }

    /// Type and allowed packets, or nil for an identifier the spec does not define.
    public var definition: (type: WireType, allowedIn: Context)? {
        switch self {
        case .payloadFormatIndicator: return (.byte, [.publish, .will])
        case .messageExpiryInterval: return (.fourByteInteger, [.publish, .will])
        case .contentType: return (.string, [.publish, .will])
        case .responseTopic: return (.string, [.publish, .will])
        case .correlationData: return (.binary, [.publish, .will])
        case .subscriptionIdentifier: return (.variableByteInteger, [.publish, .subscribe])
        case .sessionExpiryInterval: return (.fourByteInteger, [.connect, .connack, .disconnect])
        case .assignedClientIdentifier: return (.string, [.connack])
        case .serverKeepAlive: return (.twoByteInteger, [.connack])
        case .authenticationMethod: return (.string, [.connect, .connack, .auth])
        case .authenticationData: return (.binary, [.connect, .connack, .auth])
        case .requestProblemInformation: return (.byte, [.connect])
        case .willDelayInterval: return (.fourByteInteger, [.will])
        case .requestResponseInformation: return (.byte, [.connect])
        case .responseInformation: return (.string, [.connack])
        case .serverReference: return (.string, [.connack, .disconnect])
        case .reasonString: return (.string, [.connack, .publishAck, .suback, .unsuback, .disconnect, .auth])
        case .receiveMaximum: return (.twoByteInteger, [.connect, .connack])
        case .topicAliasMaximum: return (.twoByteInteger, [.connect, .connack])
        case .topicAlias: return (.twoByteInteger, [.publish])
        case .maximumQoS: return (.byte, [.connack])
        case .retainAvailable: return (.byte, [.connack])
        case .userProperty: return (.stringPair, Context.all)
        case .maximumPacketSize: return (.fourByteInteger, [.connect, .connack])
        case .wildcardSubscriptionAvailable: return (.byte, [.connack])
        case .subscriptionIdentifierAvailable: return (.byte, [.connack])
        case .sharedSubscriptionAvailable: return (.byte, [.connack])
        default: return nil
        }
    }

    /// May appear more than once in one packet: user properties anywhere,
    /// and subscription identifiers in a PUBLISH the server sends.
    public func isRepeatable(in context: Context) -> Bool {
        self == .userProperty || (self == .subscriptionIdentifier && context == .publish)
    }

    public var description: String { "property 0x" + String(rawValue, radix: 16) }
}
