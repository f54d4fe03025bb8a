/// The protocol level a client asks for in CONNECT.
///
/// 3.1 ("MQIsdp") and 3.1.1 ("MQTT") share one wire format apart from the
/// protocol name and client-id rules; 5.0 adds properties and reason codes,
/// which every packet type already carries so 5.0 fits without a rewrite.
public enum ProtocolVersion: UInt8, Sendable, Hashable, CustomStringConvertible {
    case v3_1 = 3
    case v3_1_1 = 4
    case v5 = 5

    /// The protocol name the spec pairs with this level.
    public var protocolName: String {
        self == .v3_1 ? "MQIsdp" : "MQTT"
    }

    public var description: String {
        switch self {
        case .v3_1: return "3.1"
        case .v3_1_1: return "3.1.1"
        case .v5: return "5.0"
        }
    }
}
