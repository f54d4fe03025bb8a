import NIOCore
import Testing
@testable import WharfMQTT

/// One test per rule of 3.1.1 section 4.8 and the packet sections: the exact
/// error the server-side parser raises (the connection handler closes on any).
@Suite struct MalformedPacketTests {
    private func connect(level: UInt8 = 4, name: String = "MQTT", flags: UInt8 = 0x02, payload: [UInt8] = [0, 1, 0x63]) -> [UInt8] {
        let body = [0, UInt8(name.utf8.count)] + Array(name.utf8) + [level, flags, 0, 60] + payload
        return [0x10, UInt8(body.count)] + body
    }

    /// A fifth remaining-length byte is malformed (section 2.2.3).
    @Test func remainingLengthTooLong() {
        #expect(decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .malformedRemainingLength)
    }

    /// Packet types 0 and 15 are reserved in 3.1.1.
    @Test func reservedPacketTypes() {
        #expect(decodeError([0x00, 0x00]) == .reservedPacketType(0))
        #expect(decodeError([0xF0, 0x00]) == .reservedPacketType(15))
    }

    /// Fixed-header flags other than the ones the spec fixes are malformed.
    @Test(arguments: [
        ([0x62 & 0xF0, 0x02, 0x00, 0x01] as [UInt8], UInt8(6)),  // PUBREL with 0000
        ([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], UInt8(8)),  // SUBSCRIBE with 0000
        ([0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], UInt8(10)),  // UNSUBSCRIBE with 0000
        ([0x41, 0x02, 0x00, 0x01], UInt8(4)),  // PUBACK with 0001
        ([0xC1, 0x00], UInt8(12)),  // PINGREQ with 0001
        ([0xE2, 0x00], UInt8(14)),  // DISCONNECT with 0010
    ])
    func fixedHeaderFlags(_ packet: [UInt8], _ type: UInt8) {
        #expect(decodeError(packet) == .invalidFixedHeaderFlags(packetType: type, flags: packet[0] & 0x0F))
    }

    /// A CONNECT with bad flags is malformed too.
    @Test func connectFixedHeaderFlags() {
        var packet = connect()
        packet[0] = 0x11
        #expect(decodeError(packet, afterConnect: false) == .invalidFixedHeaderFlags(packetType: 1, flags: 1))
    }

    /// PUBLISH with QoS 3, and QoS 0 with DUP, are malformed (section 3.3.1).
    @Test func publishQoSAndDup() {
        #expect(decodeError([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]) == .invalidQoS(3))
        #expect(decodeError([0x38, 0x03, 0x00, 0x01, 0x61]) == .invalidFixedHeaderFlags(packetType: 3, flags: 0x08))
    }

    /// Strings must be well-formed UTF-8 (section 1.5.3).
    @Test(arguments: [[0xC3, 0x28], [0xC0, 0x80], [0xFF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8(_ topic: [UInt8]) {
        let body = [0, UInt8(topic.count)] + topic
        #expect(decodeError([0x30, UInt8(body.count)] + body) == .invalidUTF8)
    }

    /// U+0000 is not allowed in a string.
    @Test func nullCharacter() {
        #expect(decodeError([0x30, 0x05, 0x00, 0x03, 0x61, 0x00, 0x62]) == .nullCharacterInString)
        #expect(decodeError(connect(payload: [0, 2, 0x61, 0x00]), afterConnect: false) == .nullCharacterInString)
    }

    /// Topic names in PUBLISH carry no wildcards and are not empty (section 4.7).
    @Test(arguments: ["a/+/b", "#", "a/#", "+", ""])
    func invalidPublishTopic(_ topic: String) {
        #expect(decodeError(bytes(.publish(PublishPacket(topic: topic, payload: ByteBuffer())))) == .invalidTopicName(topic))
    }

    /// A will topic is a topic name too.
    @Test func invalidWillTopic() {
        let packet = bytes(.connect(ConnectPacket(clientId: "c", will: .init(topic: "a/#", payload: ByteBuffer(), qos: .atMostOnce, retain: false))))
        #expect(decodeError(packet, afterConnect: false) == .invalidTopicName("a/#"))
    }

    /// Packet identifier 0 is not allowed where one is required (section 2.3.1).
    @Test func zeroPacketIdentifier() {
        #expect(decodeError([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00]) == .zeroPacketIdentifier)
        #expect(decodeError([0x40, 0x02, 0x00, 0x00]) == .zeroPacketIdentifier)
        #expect(decodeError([0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00]) == .zeroPacketIdentifier)
        #expect(decodeError([0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 0x61]) == .zeroPacketIdentifier)
    }

    /// An over-size packet is refused from its header alone, before the body arrives.
    @Test func oversizeRefusedEarly() throws {
        var parser = MQTTPacketParser(maxPacketSize: 1024)
        var buffer = ByteBuffer(bytes: [0x30, 0x80, 0x08])  // announces 1024 bytes: 1027 in all
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 1027, limit: 1024)) { _ = try parser.parse(&buffer) }
        var exact = ByteBuffer(bytes: [0x30, 0xFD, 0x07])  // 1021 + 3 header bytes = 1024: allowed
        #expect(try parser.parse(&exact) == nil)
    }

    /// CONNECT: protocol name, level, reserved flag, will and password flag rules (section 3.1.2).
    @Test func connectRules() {
        #expect(decodeError(connect(name: "MQTX"), afterConnect: false) == .invalidProtocolName("MQTX"))
        #expect(decodeError(connect(level: 5), afterConnect: false) == .unsupportedProtocolVersion(5))
        #expect(decodeError(connect(level: 7), afterConnect: false) == .unsupportedProtocolVersion(7))
        #expect(decodeError(connect(level: 3), afterConnect: false) == .unsupportedProtocolVersion(3), "level 3 needs the name MQIsdp")
        #expect(decodeError(connect(flags: 0x03), afterConnect: false) == .reservedConnectFlagSet)
        #expect(decodeError(connect(flags: 0x02 | 0x18), afterConnect: false) == .invalidWillFlags, "will QoS without will flag")
        #expect(decodeError(connect(flags: 0x02 | 0x20), afterConnect: false) == .invalidWillFlags, "will retain without will flag")
        #expect(decodeError(connect(flags: 0x02 | 0x04 | 0x18, payload: [0, 1, 0x63, 0, 1, 0x74, 0, 0]), afterConnect: false) == .invalidQoS(3))
        #expect(decodeError(connect(flags: 0x02 | 0x40, payload: [0, 1, 0x63, 0, 0]), afterConnect: false) == .passwordWithoutUsername)
    }

    /// SUBSCRIBE needs at least one filter, and its options byte has reserved bits (section 3.8.3).
    @Test func subscribeRules() {
        #expect(decodeError([0x82, 0x02, 0x00, 0x01]) == .emptySubscriptionList)
        #expect(decodeError([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04]) == .reservedSubscriptionOptionBits(0x04))
        #expect(decodeError([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03]) == .invalidQoS(3))
    }

    /// UNSUBSCRIBE needs at least one filter (section 3.10.3).
    @Test func unsubscribeRules() {
        #expect(decodeError([0xA2, 0x02, 0x00, 0x01]) == .emptyUnsubscribeList)
    }

    /// Fields that run past the packet, and bytes left over after it, are malformed.
    @Test func lengthMismatches() {
        #expect(decodeError([0x30, 0x04, 0x00, 0x09, 0x61, 0x62]) == .truncated(field: "topic name"))
        #expect(decodeError([0x40, 0x03, 0x00, 0x01, 0x00]) == .trailingBytes(packet: "PUBACK", count: 1))
        #expect(decodeError([0xC0, 0x01, 0x00]) == .trailingBytes(packet: "PINGREQ", count: 1))
        #expect(decodeError([0x40, 0x01, 0x00]) == .truncated(field: "packet identifier"))
    }

    /// Server-to-client packet types sent by a client are protocol errors.
    @Test(arguments: [[0x20, 0x02, 0x00, 0x00], [0x90, 0x03, 0x00, 0x01, 0x00], [0xB0, 0x02, 0x00, 0x01], [0xD0, 0x00]] as [[UInt8]])
    func clientOnlyPackets(_ packet: [UInt8]) {
        guard case .clientOnlyPacket = decodeError(packet) else {
            Issue.record("expected clientOnlyPacket for \(packet)")
            return
        }
    }

    /// Each error maps to the 5.0 reason code a DISCONNECT would carry.
    @Test func reasonCodes() {
        #expect(MQTTDecodeError.packetTooLarge(size: 2, limit: 1).reasonCode == 0x95)
        #expect(MQTTDecodeError.invalidUTF8.reasonCode == 0x81)
        #expect(MQTTDecodeError.clientOnlyPacket("CONNACK").reasonCode == 0x82)
        #expect(MQTTDecodeError.unsupportedProtocolVersion(7).reasonCode == 0x84)
    }
}
