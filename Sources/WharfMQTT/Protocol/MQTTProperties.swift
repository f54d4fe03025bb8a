import NIOCore

/// MQTT 5.0 properties carried by a packet, in wire order.
///
/// Every packet struct has a `properties` field; for 3.1/3.1.1 it is always
/// empty and nothing is written for it on the wire. An empty list allocates
/// nothing, so packets without properties (most of them) cost nothing extra.
public struct MQTTProperties: Sendable, Hashable {
    public var entries: [MQTTProperty]

    public init(_ entries: [MQTTProperty] = []) { self.entries = entries }

    public static let none = MQTTProperties()

    public var isEmpty: Bool { entries.isEmpty }

    public mutating func append(_ identifier: PropertyIdentifier, _ value: MQTTProperty.Value) {
        entries.append(MQTTProperty(identifier: identifier.rawValue, value: value))
    }

    public func value(_ identifier: PropertyIdentifier) -> MQTTProperty.Value? {
        entries.first { $0.identifier == identifier.rawValue }?.value
    }

    public func contains(_ identifier: PropertyIdentifier) -> Bool {
        entries.contains { $0.identifier == identifier.rawValue }
    }

    // MARK: Typed access

    public func integer(_ identifier: PropertyIdentifier) -> UInt32? {
        switch value(identifier) {
        case .byte(let v): return UInt32(v)
        case .twoByteInteger(let v): return UInt32(v)
        case .fourByteInteger(let v), .variableByteInteger(let v): return v
        default: return nil
        }
    }

    public func string(_ identifier: PropertyIdentifier) -> String? {
        if case .string(let s)? = value(identifier) { return s }
        return nil
    }

    /// The value of the first user property named `key`.
    public func userProperty(_ key: String) -> String? {
        for entry in entries where entry.identifier == PropertyIdentifier.userProperty.rawValue {
            if case .stringPair(let k, let v) = entry.value, k == key { return v }
        }
        return nil
    }

    public var subscriptionIdentifiers: [UInt32] {
        entries.compactMap { entry in
            if entry.identifier == PropertyIdentifier.subscriptionIdentifier.rawValue, case .variableByteInteger(let v) = entry.value {
                return v
            }
            return nil
        }
    }

    /// Only the entries `keep` accepts.
    public func filter(_ keep: (PropertyIdentifier) -> Bool) -> MQTTProperties {
        MQTTProperties(entries.filter { keep(PropertyIdentifier(rawValue: $0.identifier)) })
    }
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

    /// Bytes on the wire, identifier included.
    var wireSize: Int {
        1
            + {
                switch value {
                case .byte: return 1
                case .twoByteInteger: return 2
                case .fourByteInteger: return 4
                case .variableByteInteger(let v): return ByteBuffer.variableByteIntegerSize(Int(v))
                case .string(let s): return ByteBuffer.mqttStringSize(s)
                case .binary(let b): return 2 + min(b.readableBytes, ByteBuffer.maxMQTTFieldLength)
                case .stringPair(let k, let v): return ByteBuffer.mqttStringSize(k) + ByteBuffer.mqttStringSize(v)
                }
            }()
    }
}
