import WharfCore
import WharfMQTT

/// What a CONNECT settles for the life of its connection: the protocol
/// version, what the client said it accepts (5.0 section 3.1.2.11), and the
/// keep-alive in force after the server's cap. Pure: from the packet and the
/// broker's limits, so it is tested without a channel.
struct NegotiatedOptions: Equatable {
    var version: ProtocolVersion = .v3_1_1
    /// The client's Maximum Packet Size (5.0): no reply may exceed it.
    var clientMaximumPacketSize = Int.max
    /// 5.0 Request Problem Information: 0 keeps reason strings off replies
    /// other than CONNACK and DISCONNECT.
    var requestProblemInformation = true
    /// 5.0 Session Expiry Interval; nil for 3.1.1 (clean session decides).
    var sessionExpiryInterval: UInt32?
    /// 5.0 Receive Maximum: bounds the client's in-flight window.
    var receiveMaximum: Int?
    /// Topic aliases the client may set (the server's maximum) and the
    /// server may set (the client's), 5.0 only.
    var inboundAliasMaximum = 0
    var outboundAliasMaximum = 0
    /// Seconds; 0 is none. `keepAliveCapped`: the server lowered it (or set
    /// one where the client asked for none), which a 5.0 CONNACK says.
    var keepAlive: UInt16 = 0
    var keepAliveCapped = false
    /// 5.0 Will Delay Interval, seconds.
    var willDelay: UInt32 = 0

    init() {}

    /// The options of `connect`. The version and the client's maximum
    /// packet size are known before any reply (refusals included).
    init(connect: ConnectPacket, limits: BrokerLimits) {
        version = connect.version
        keepAlive = connect.keepAlive
        let maxKeepAlive = limits.maxKeepAlive
        if maxKeepAlive > 0 && (keepAlive == 0 || Int(keepAlive) > maxKeepAlive) {
            keepAlive = UInt16(maxKeepAlive)
            keepAliveCapped = true
        }
        guard connect.version == .v5 else { return }
        let properties = connect.properties
        clientMaximumPacketSize = properties.integer(.maximumPacketSize).map(Int.init) ?? Int.max
        requestProblemInformation = properties.integer(.requestProblemInformation) != 0
        sessionExpiryInterval = properties.integer(.sessionExpiryInterval) ?? 0
        receiveMaximum = properties.integer(.receiveMaximum).map(Int.init)
        inboundAliasMaximum = limits.topicAliasMaximum
        outboundAliasMaximum = Int(properties.integer(.topicAliasMaximum) ?? 0)
        willDelay = connect.will?.properties.integer(.willDelayInterval) ?? 0
    }
}
