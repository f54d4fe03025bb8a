import NIOCore

/// MQTT 5.0 properties carried by a packet.
///
/// Every packet struct has a `properties` field so the 5.0 codec can fill it
/// without changing the packet model; for 3.1/3.1.1 it is always empty and
/// nothing is written for it on the wire.
public struct MQTTProperties: Sendable, Hashable {
    public var entries: [MQTTProperty]

    public init(_ entries: [MQTTProperty] = []) { self.entries = entries }

    public static let none = MQTTProperties()

    public var isEmpty: Bool { entries.isEmpty }
}

/// One property: its identifier byte and its typed value.
public struct MQTTProperty: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case byte(UInt8)
        case twoByteInteger(UInt16)
        case fourByteInteger(UInt32)
        case variableByteInteger(UInt32)
        case string(String)
        case binary(ByteBuffer)
        case stringPair(String, String)
    }

    public var identifier: UInt8
    public var value: Value

    public init(identifier: UInt8, value: Value) {
        self.identifier = identifier
        self.value = value
    }
}
