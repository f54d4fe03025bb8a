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

    /// The topic alias (5.0), if the sender set one.
    public var topicAlias: UInt16? { properties.integer(.topicAlias).map { UInt16($0) } }

    /// `lastTopic` is the topic this stream's previous PUBLISH carried: the
    /// same bytes again yield that string; a new valid topic replaces it.
    static func decode(
        flags: UInt8, body: inout ByteBuffer, version: ProtocolVersion, asClient: Bool = false, lastTopic: inout String
    ) throws(MQTTDecodeError) -> PublishPacket {
        let qosBits = (flags >> 1) & 0x03
        guard let qos = QoS(rawValue: qosBits) else { throw .invalidQoS(qosBits) }
        let dup = flags & 0x08 != 0
        // 3.1.1 section 3.3.1.1: DUP must be 0 for QoS 0.
        if qos == .atMostOnce && dup { throw .invalidFixedHeaderFlags(packetType: PacketType.publish.rawValue, flags: flags) }
        let topic: String
        if let repeated = body.readMQTTString(ifEqualTo: lastTopic) {
            topic = repeated
        } else {
            topic = try body.readMQTTString("topic name")
            // 5.0: an empty topic name stands for a topic alias (checked by the
            // connection, which holds the alias table).
            guard TopicRules.isValidTopicName(topic) || (version == .v5 && topic.isEmpty) else { throw .invalidTopicName(topic) }
            if !topic.isEmpty { lastTopic = topic }
        }
        var packetId: UInt16?
        if qos != .atMostOnce {
            let id = try body.readMQTTUInt16("packet identifier")
            guard id != 0 else { throw .zeroPacketIdentifier }
            packetId = id
        }
        var properties = MQTTProperties.none
        if version == .v5 {
            properties = try MQTTProperties.read(from: &body, in: .publish, packet: "PUBLISH")
            // Section 3.3.4: only the server puts subscription identifiers in a PUBLISH.
            if !asClient, let id = properties.integer(.subscriptionIdentifier) {
                throw .invalidPropertyValue(property: PropertyIdentifier.subscriptionIdentifier.rawValue, value: Int(id))
            }
        }
        // The payload is a slice of the read buffer: no copy on the way in.
        let payload = body.readSlice(length: body.readableBytes)!
        return PublishPacket(
            topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, dup: dup, packetId: packetId, properties: properties
        )
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        var propertyBytes: ByteBuffer?
        if version == .v5 {
            var bytes = ByteBuffer()
            properties.writeEntries(into: &bytes)
            propertyBytes = bytes
        }
        PublishPacket.writeHeader(
            topic: topic, qos: qos, retain: retain, dup: dup, packetId: packetId,
            properties: propertyBytes, payloadLength: payload.readableBytes, into: &buffer
        )
        var payload = payload
        buffer.writeBuffer(&payload)
    }

    /// Remaining length of a PUBLISH with these parts (`properties`: the
    /// property entries' size, nil before 5.0).
    @inlinable
    public static func remainingLength(topicLength: Int, qos: QoS, properties: Int?, payloadLength: Int) -> Int {
        var remaining = 2 + topicLength + (qos == .atMostOnce ? 0 : 2) + payloadLength
        if let properties { remaining += ByteBuffer.variableByteIntegerSize(properties) + properties }
        return remaining
    }

    /// Writes everything but the payload. The delivery path uses this so the
    /// one shared payload buffer is never copied per subscriber before the
    /// socket write. `properties` holds the encoded property entries for a
    /// 5.0 receiver (nil before 5.0), written after their length.
    @inlinable
    public static func writeHeader(
        topic: String, qos: QoS, retain: Bool, dup: Bool, packetId: UInt16?,
        properties: ByteBuffer? = nil, payloadLength: Int, into buffer: inout ByteBuffer
    ) {
        let remaining = remainingLength(
            topicLength: min(topic.utf8.count, ByteBuffer.maxMQTTFieldLength), qos: qos, properties: properties?.readableBytes,
            payloadLength: payloadLength
        )
        let flags = (dup ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
        if writeHeaderAtOnce(
            topic: topic, flags: flags, remaining: remaining, qos: qos, packetId: packetId, properties: properties, into: &buffer)
        {
            return
        }
        FixedHeader.write(type: .publish, flags: flags, remainingLength: remaining, into: &buffer)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetId ?? 0) }
        if let properties {
            buffer.writeVariableByteInteger(properties.readableBytes)
            buffer.writeImmutableBuffer(properties)
        }
    }

    /// The usual header (a topic in contiguous memory within the field
    /// limit) in one reservation of `buffer` and plain stores: each
    /// `ByteBuffer` write call checks capacity and uniqueness, and the
    /// field-by-field path made four of them per delivery. False: use that path.
    @usableFromInline
    static func writeHeaderAtOnce(
        topic: String, flags: UInt8, remaining: Int, qos: QoS, packetId: UInt16?, properties: ByteBuffer?,
        into buffer: inout ByteBuffer
    ) -> Bool {
        let topicLength = topic.utf8.count
        guard topicLength <= ByteBuffer.maxMQTTFieldLength, remaining <= ByteBuffer.maxVariableByteInteger else { return false }
        let propertyLength = properties?.readableBytes ?? 0
        var size = 1 + ByteBuffer.variableByteIntegerSize(remaining) + 2 + topicLength + (qos == .atMostOnce ? 0 : 2)
        if properties != nil { size += ByteBuffer.variableByteIntegerSize(propertyLength) + propertyLength }
        let written: Int? = topic.utf8.withContiguousStorageIfAvailable { topicBytes in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                var index = 0
                func put(_ byte: UInt8) {
                    out[index] = byte
                    index += 1
                }
                func putVariable(_ value: Int) {
                    var value = value
                    repeat {
                        let low = UInt8(truncatingIfNeeded: value & 0x7F)
                        value >>= 7
                        put(value > 0 ? low | 0x80 : low)
                    } while value > 0
                }
                put(PacketType.publish.rawValue << 4 | flags)
                putVariable(remaining)
                put(UInt8(truncatingIfNeeded: topicLength >> 8))
                put(UInt8(truncatingIfNeeded: topicLength))
                if topicLength > 0 {
                    (out.baseAddress! + index).copyMemory(from: topicBytes.baseAddress!, byteCount: topicLength)
                    index += topicLength
                }
                if qos != .atMostOnce {
                    let id = packetId ?? 0
                    put(UInt8(truncatingIfNeeded: id >> 8))
                    put(UInt8(truncatingIfNeeded: id))
                }
                if let properties {
                    putVariable(propertyLength)
                    properties.withUnsafeReadableBytes { bytes in
                        if !bytes.isEmpty { (out.baseAddress! + index).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
                    }
                    index += propertyLength
                }
                return index
            }
        }
        return written != nil
    }
}
