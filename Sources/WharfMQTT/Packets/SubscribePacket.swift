import NIOCore

/// SUBSCRIBE: one or more topic filters, each with a requested QoS and, in
/// 5.0, subscription options; 5.0 may add one subscription identifier.
public struct SubscribePacket: Sendable, Hashable {
    public struct Subscription: Sendable, Hashable {
        public var filter: String
        public var qos: QoS
        /// 5.0: do not send this client's own publishes back to it.
        public var noLocal: Bool
        /// 5.0: keep the RETAIN flag as published on live deliveries.
        public var retainAsPublished: Bool
        /// 5.0: 0 send retained messages on subscribe, 1 only if the
        /// subscription is new, 2 never.
        public var retainHandling: UInt8

        public init(filter: String, qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: UInt8 = 0) {
            self.filter = filter
            self.qos = qos
            self.noLocal = noLocal
            self.retainAsPublished = retainAsPublished
            self.retainHandling = retainHandling
        }

        var optionsByte: UInt8 {
            qos.rawValue | (noLocal ? 0x04 : 0) | (retainAsPublished ? 0x08 : 0) | (retainHandling << 4)
        }
    }

    public var packetId: UInt16
    public var subscriptions: [Subscription]
    public var properties: MQTTProperties

    public init(packetId: UInt16, subscriptions: [Subscription], properties: MQTTProperties = .none) {
        self.packetId = packetId
        self.subscriptions = subscriptions
        self.properties = properties
    }

    /// The subscription identifier (5.0), if the client gave one.
    public var subscriptionIdentifier: UInt32? { properties.integer(.subscriptionIdentifier) }

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> SubscribePacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .zeroPacketIdentifier }
        let v5 = version == .v5
        let properties = v5 ? try MQTTProperties.read(from: &body, in: .subscribe, packet: "SUBSCRIBE") : .none
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            // Filter syntax is checked by the session, which answers 0x80
            // (0x8F in 5.0) for an invalid filter instead of disconnecting.
            let filter = try body.readMQTTString("topic filter")
            let options = try body.readMQTTByte(v5 ? "subscription options" : "requested QoS")
            guard options & (v5 ? 0xC0 : 0xFC) == 0 else { throw .reservedSubscriptionOptionBits(options) }
            guard let qos = QoS(rawValue: options & 0x03) else { throw .invalidSubscriptionQoS }
            let retainHandling = (options >> 4) & 0x03
            guard retainHandling != 3 else { throw .invalidRetainHandling }
            subscriptions.append(
                Subscription(
                    filter: filter, qos: qos, noLocal: options & 0x04 != 0, retainAsPublished: options & 0x08 != 0,
                    retainHandling: retainHandling
                ))
        }
        guard !subscriptions.isEmpty else { throw .emptySubscriptionList }
        return SubscribePacket(packetId: id, subscriptions: subscriptions, properties: properties)
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let v5 = version == .v5
        let length = 2 + (v5 ? properties.wireSize : 0) + subscriptions.reduce(0) { $0 + ByteBuffer.mqttStringSize($1.filter) + 1 }
        FixedHeader.write(type: .subscribe, flags: PacketType.subscribe.requiredFlags, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetId)
        if v5 { properties.write(into: &buffer) }
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.filter)
            buffer.writeInteger(v5 ? subscription.optionsByte : subscription.qos.rawValue)
        }
    }
}
