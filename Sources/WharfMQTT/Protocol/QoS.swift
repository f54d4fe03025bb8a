/// MQTT quality of service: how many times a message may arrive.
public enum QoS: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "QoS \(rawValue)" }
}
