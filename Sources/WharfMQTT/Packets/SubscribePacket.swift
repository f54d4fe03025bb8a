import NIOCore

/// SUBSCRIBE: one or more topic filters, each with a requested QoS.
public struct SubscribePacket: Sendable, Hashable {
    public struct Subscription: Sendable, Hashable {
        public var filter: String
        public var qos: QoS

        public init(filter: String, qos: QoS) {
            self.filter = filter
            self.qos = qos
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

    static func decode(_ body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> SubscribePacket {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .zeroPacketIdentifier }
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            // Filter syntax is checked by the session, which answers 0x80 for
            // an invalid filter instead of dropping the connection.
            let filter = try body.readMQTTString("topic filter")
            let options = try body.readMQTTByte("requested QoS")
            guard options & 0xFC == 0 else { throw .reservedSubscriptionOptionBits(options) }
            guard let qos = QoS(rawValue: options & 0x03) else { throw .invalidQoS(options & 0x03) }
            subscriptions.append(Subscription(filter: filter, qos: qos))
        }
        guard !subscriptions.isEmpty else { throw .emptySubscriptionList }
        return SubscribePacket(packetId: id, subscriptions: subscriptions)
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        let length = 2 + subscriptions.reduce(0) { $0 + 2 + $1.filter.utf8.count + 1 }
        FixedHeader.write(type: .subscribe, flags: PacketType.subscribe.requiredFlags, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetId)
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.filter)
            buffer.writeInteger(subscription.qos.rawValue)
        }
    }
}
