/// 5.0 sections 3.2.2.3.9 and 3.2.2.3.10 (and their twins in every reply
/// packet): the Reason String and User Properties are diagnostics, which a
/// sender must leave out when they would take the packet past the
/// receiver's Maximum Packet Size. This is how a reply sheds them.
extension MQTTProperties {
    public static func isDiagnostic(_ identifier: UInt8) -> Bool {
        identifier == PropertyIdentifier.reasonString.rawValue || identifier == PropertyIdentifier.userProperty.rawValue
    }

    /// These properties without diagnostics, or nil if there were none.
    public var withoutDiagnostics: MQTTProperties? {
        guard entries.contains(where: { Self.isDiagnostic($0.identifier) }) else { return nil }
        return MQTTProperties(entries.filter { !Self.isDiagnostic($0.identifier) })
    }
}

extension MQTTProperties {
    /// A CONNACK's properties cut to what its client must know to be served
    /// (the client id the server assigned, the keep-alive it imposed, the
    /// receive maximum and packet size it must not exceed), or nil if nothing
    /// else was there. Without the rest (response information, topic alias
    /// maximum, the "available" flags) a client assumes the defaults (5.0
    /// section 3.2.2.3): a last resort for a tiny Maximum Packet Size.
    public var essentialForConnAck: MQTTProperties? {
        let essential: Set<UInt8> = [
            PropertyIdentifier.assignedClientIdentifier.rawValue, PropertyIdentifier.serverKeepAlive.rawValue,
            PropertyIdentifier.receiveMaximum.rawValue, PropertyIdentifier.maximumPacketSize.rawValue,
        ]
        let kept = entries.filter { essential.contains($0.identifier) }
        return kept.count < entries.count ? MQTTProperties(kept) : nil
    }
}

extension MQTTPacket {
    /// The same reply without its Reason String and User Properties, or nil
    /// if it has none to shed (PUBLISH keeps its properties: they are the
    /// publisher's, and a PUBLISH too large for a client is not sent at all).
    public func withoutDiagnostics() -> MQTTPacket? {
        switch self {
        case .connack(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .connack(p)
            }
        case .puback(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .puback(p)
            }
        case .pubrec(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .pubrec(p)
            }
        case .pubrel(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .pubrel(p)
            }
        case .pubcomp(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .pubcomp(p)
            }
        case .suback(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .suback(p)
            }
        case .unsuback(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .unsuback(p)
            }
        case .disconnect(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .disconnect(p)
            }
        case .auth(var p):
            return p.properties.withoutDiagnostics.map {
                p.properties = $0
                return .auth(p)
            }
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp: return nil
        }
    }
}
