import NIOCore

/// PUBLISH: an application message, in either direction.
public struct PublishPacket: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` > 0.
    public var packetId: UInt16?
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
        dup: Bool = false, packetId: UInt16? = nil, properties: MQTTProperties = .none
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetId = packetId
        self.properties = properties
    }

    static func decode(flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTDecodeError) -> PublishPacket {
        let qosBits = (flags >> 1) & 0x03
        guard let qos = QoS(rawValue: qosBits) else { throw .invalidQoS(qosBits) }
        let dup = flags & 0x08 != 0
        // 3.1.1 section 3.3.1.1: DUP must be 0 for QoS 0.
        if qos == .atMostOnce && dup { throw .invalidFixedHeaderFlags(packetType: PacketType.publish.rawValue, flags: flags) }
        let topic = try body.readMQTTString("topic name")
        guard TopicRules.isValidTopicName(topic) else { throw .invalidTopicName(topic) }
        var packetId: UInt16?
        if qos != .atMostOnce {
            let id = try body.readMQTTUInt16("packet identifier")
            guard id != 0 else { throw .zeroPacketIdentifier }
            packetId = id
        }
        // The payload is a slice of the read buffer: no copy on the way in.
        let payload = body.readSlice(length: body.readableBytes)!
        return PublishPacket(topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, dup: dup, packetId: packetId)
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        PublishPacket.writeHeader(
            topic: topic, qos: qos, retain: retain, dup: dup, packetId: packetId,
            payloadLength: payload.readableBytes, into: &buffer
        )
        var payload = payload
        buffer.writeBuffer(&payload)
    }

    /// Writes everything but the payload. The delivery path uses this so the
    /// one shared payload buffer is never copied per subscriber before the
    /// socket write.
    @inlinable
    public static func writeHeader(
        topic: String, qos: QoS, retain: Bool, dup: Bool, packetId: UInt16?,
        payloadLength: Int, into buffer: inout ByteBuffer
    ) {
        let topicLength = topic.utf8.count
        let remaining = 2 + topicLength + (qos == .atMostOnce ? 0 : 2) + payloadLength
        let flags = (dup ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
        FixedHeader.write(type: .publish, flags: flags, remainingLength: remaining, into: &buffer)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetId ?? 0) }
    }
}
