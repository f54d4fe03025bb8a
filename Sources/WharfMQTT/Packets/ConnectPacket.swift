import NIOCore

/// CONNECT: the first packet a client sends.
public struct ConnectPacket: Sendable, Hashable {
    public struct Will: Sendable, Hashable {
        public var topic: String
        public var payload: ByteBuffer
        public var qos: QoS
        public var retain: Bool
        public var properties: MQTTProperties

        public init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: MQTTProperties = .none) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
        }
    }

    public var version: ProtocolVersion
    public var clientId: String
    public var cleanSession: Bool
    public var keepAlive: UInt16
    public var will: Will?
    public var username: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties

    public init(
        version: ProtocolVersion = .v3_1_1,
        clientId: String,
        cleanSession: Bool = true,
        keepAlive: UInt16 = 60,
        will: Will? = nil,
        username: String? = nil,
        password: ByteBuffer? = nil,
        properties: MQTTProperties = .none
    ) {
        self.version = version
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
    }

    private enum Flag {
        static let reserved: UInt8 = 0x01
        static let cleanSession: UInt8 = 0x02
        static let will: UInt8 = 0x04
        static let willRetain: UInt8 = 0x20
        static let password: UInt8 = 0x40
        static let username: UInt8 = 0x80
    }

    static func decode(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> ConnectPacket {
        let name = try body.readMQTTString("protocol name")
        let level = try body.readMQTTByte("protocol level")
        guard name == "MQTT" || name == "MQIsdp" else { throw .invalidProtocolName(name) }
        guard let version = ProtocolVersion(rawValue: level), name == version.protocolName else {
            // Answered with CONNACK 0x01 (3.1.1) or 0x84 (5.0) by the connection.
            throw .unsupportedProtocolVersion(level)
        }
        let flags = try body.readMQTTByte("connect flags")
        guard flags & Flag.reserved == 0 else { throw .reservedConnectFlagSet }
        let hasWill = flags & Flag.will != 0
        let willQoSBits = (flags >> 3) & 0x03
        let willRetain = flags & Flag.willRetain != 0
        if !hasWill && (willQoSBits != 0 || willRetain) { throw .invalidWillFlags }
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw .invalidQoS(willQoSBits) }
        let hasUsername = flags & Flag.username != 0
        let hasPassword = flags & Flag.password != 0
        // 5.0 allows a password without a user name (section 3.1.2.9).
        if hasPassword && !hasUsername && version != .v5 { throw .passwordWithoutUsername }
        let keepAlive = try body.readMQTTUInt16("keep alive")
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, in: .connect, packet: "CONNECT") : .none

        let clientId = try body.readMQTTString("client identifier")
        var will: Will?
        if hasWill {
            let willProperties = version == .v5 ? try MQTTProperties.read(from: &body, in: .will, packet: "will properties") : .none
            let topic = try body.readMQTTString("will topic")
            guard TopicRules.isValidTopicName(topic) else { throw .invalidTopicName(topic) }
            let payload = try body.readMQTTBinary("will message")
            will = Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTString("user name") : nil
        let password = hasPassword ? try body.readMQTTBinary("password") : nil
        return ConnectPacket(
            version: version, clientId: clientId, cleanSession: flags & Flag.cleanSession != 0,
            keepAlive: keepAlive, will: will, username: username, password: password, properties: properties
        )
    }

    func encode(into buffer: inout ByteBuffer) {
        let v5 = version == .v5
        var flags: UInt8 = cleanSession ? Flag.cleanSession : 0
        var length = 2 + version.protocolName.utf8.count + 1 + 1 + 2 + ByteBuffer.mqttStringSize(clientId)
        if v5 { length += properties.wireSize }
        if let will {
            flags |= Flag.will | (will.qos.rawValue << 3) | (will.retain ? Flag.willRetain : 0)
            length += ByteBuffer.mqttStringSize(will.topic) + 2 + min(will.payload.readableBytes, ByteBuffer.maxMQTTFieldLength)
            if v5 { length += will.properties.wireSize }
        }
        if let username {
            flags |= Flag.username
            length += ByteBuffer.mqttStringSize(username)
        }
        if let password {
            flags |= Flag.password
            length += 2 + min(password.readableBytes, ByteBuffer.maxMQTTFieldLength)
        }
        FixedHeader.write(type: .connect, flags: 0, remainingLength: length, into: &buffer)
        buffer.writeMQTTString(version.protocolName)
        buffer.writeInteger(version.rawValue)
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAlive)
        if v5 { properties.write(into: &buffer) }
        buffer.writeMQTTString(clientId)
        if let will {
            if v5 { will.properties.write(into: &buffer) }
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }
}
