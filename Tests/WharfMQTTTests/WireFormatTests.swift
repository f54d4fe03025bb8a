import NIOCore
import Testing
@testable import WharfMQTT

/// Exact bytes, checked against the layouts in the MQTT 3.1.1 specification.
@Suite struct WireFormatTests {
    /// PINGREQ, PINGRESP and DISCONNECT are two fixed bytes (sections 3.12-3.14).
    @Test func fixedPackets() {
        #expect(bytes(.pingreq) == [0xC0, 0x00])
        #expect(bytes(.pingresp) == [0xD0, 0x00])
        #expect(bytes(.disconnect(DisconnectPacket())) == [0xE0, 0x00])
    }

    /// CONNECT variable header: "MQTT", level 4, flags, keep-alive (section 3.1.2).
    @Test func connectLayout() {
        let packet = MQTTPacket.connect(ConnectPacket(clientId: "ab", cleanSession: true, keepAlive: 10, username: "u", password: ByteBuffer(string: "p")))
        #expect(bytes(packet) == [
            0x10, 20,
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
            0x04,  // level 4
            0xC2,  // user name + password + clean session
            0x00, 0x0A,  // keep-alive 10
            0x00, 0x02, 0x61, 0x62,  // "ab"
            0x00, 0x01, 0x75,  // "u"
            0x00, 0x01, 0x70,  // "p"
        ])
    }

    /// PUBREL, SUBSCRIBE and UNSUBSCRIBE carry flags 0010 (section 2.2.2).
    @Test func reservedFlagBits() {
        #expect(bytes(.pubrel(PublishAckPacket(packetId: 1)))[0] == 0x62)
        #expect(bytes(.subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "a", qos: .atMostOnce)])))[0] == 0x82)
        #expect(bytes(.unsubscribe(UnsubscribePacket(packetId: 1, filters: ["a"])))[0] == 0xA2)
        #expect(bytes(.puback(PublishAckPacket(packetId: 1)))[0] == 0x40)
    }

    /// PUBLISH flags: DUP bit 3, QoS bits 2-1, RETAIN bit 0 (section 3.3.1).
    @Test func publishFlags() {
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, retain: true, dup: true, packetId: 1))
        #expect(bytes(packet)[0] == 0x3D)
    }

    /// CONNACK: session-present flag then return code (section 3.2).
    @Test func connack() {
        #expect(bytes(.connack(ConnAckPacket(sessionPresent: true, returnCode: .accepted))) == [0x20, 0x02, 0x01, 0x00])
        #expect(bytes(.connack(ConnAckPacket(sessionPresent: false, returnCode: .serverUnavailable))) == [0x20, 0x02, 0x00, 0x03])
    }

    /// Remaining length uses 1 to 4 bytes at the spec's boundaries (table 2.4).
    @Test(arguments: [
        (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ] as [(Int, [UInt8])])
    func remainingLength(_ value: Int, _ expected: [UInt8]) throws {
        var buffer = ByteBuffer()
        buffer.writeVariableByteInteger(value)
        #expect(Array(buffer.readableBytesView) == expected)
        #expect(ByteBuffer.variableByteIntegerSize(value) == expected.count)
        let decoded = try buffer.getVariableByteInteger(at: 0)
        #expect(decoded?.value == value && decoded?.length == expected.count)
    }
}
