import NIOCore
import Testing

@testable import WharfMQTT

/// Exact bytes, checked against the layouts and examples in the MQTT 3.1.1 specification.
@Suite struct WireFormatTests {
    /// PINGREQ, PINGRESP and DISCONNECT are two fixed bytes (sections 3.12-3.14).
    @Test func fixedPackets() {
        #expect(bytes(.pingreq) == [0xC0, 0x00])
        #expect(bytes(.pingresp) == [0xD0, 0x00])
        #expect(bytes(.disconnect(DisconnectPacket())) == [0xE0, 0x00])
    }

    /// The spec's CONNECT variable-header example: "MQTT", level 4, flags 0xCE, keep-alive 10 (section 3.1.2.11).
    @Test func connectSpecExample() {
        let packet = MQTTPacket.connect(
            ConnectPacket(
                clientId: "id", cleanSession: true, keepAlive: 10,
                will: .init(topic: "w", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false),
                username: "u", password: ByteBuffer(string: "p")
            ))
        #expect(
            bytes(packet) == [
                0x10, 26,
                0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
                0x04,  // level 4
                0xCE,  // user name, password, will QoS 1, will, clean session
                0x00, 0x0A,  // keep-alive 10
                0x00, 0x02, 0x69, 0x64,  // client id "id"
                0x00, 0x01, 0x77,  // will topic "w"
                0x00, 0x01, 0x78,  // will message "x"
                0x00, 0x01, 0x75,  // user name "u"
                0x00, 0x01, 0x70,  // password "p"
            ])
    }

    /// CONNECT with user name and password but no will: flags 0xC2.
    @Test func connectLayout() {
        let packet = MQTTPacket.connect(
            ConnectPacket(clientId: "ab", cleanSession: true, keepAlive: 10, username: "u", password: ByteBuffer(string: "p")))
        #expect(
            bytes(packet) == [
                0x10, 20,
                0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0xC2, 0x00, 0x0A,
                0x00, 0x02, 0x61, 0x62, 0x00, 0x01, 0x75, 0x00, 0x01, 0x70,
            ])
    }

    /// A 3.1 CONNECT names the protocol "MQIsdp" at level 3; will retain and QoS 2 set bits 5 and 4.
    @Test func connect31Layout() {
        let packet = MQTTPacket.connect(
            ConnectPacket(
                version: .v3_1, clientId: "c", cleanSession: false, keepAlive: 0x0102,
                will: .init(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, retain: true)
            ))
        #expect(
            bytes(packet) == [
                0x10, 20,
                0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70,  // "MQIsdp"
                0x03, 0x34, 0x01, 0x02,
                0x00, 0x01, 0x63, 0x00, 0x01, 0x74, 0x00, 0x00,
            ])
    }

    /// CONNACK: session-present flag then return code (section 3.2).
    @Test func connack() {
        #expect(bytes(.connack(ConnAckPacket(sessionPresent: true, returnCode: .accepted))) == [0x20, 0x02, 0x01, 0x00])
        #expect(bytes(.connack(ConnAckPacket(sessionPresent: false, returnCode: .serverUnavailable))) == [0x20, 0x02, 0x00, 0x03])
    }

    /// The spec's PUBLISH example: topic "a/b", packet identifier 10 (section 3.3.2.3); QoS 1 flags 0010.
    @Test func publishSpecExample() {
        let packet = MQTTPacket.publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce, packetId: 10))
        #expect(bytes(packet) == [0x32, 0x09, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x0A, 0x68, 0x69])
    }

    /// A QoS 0 PUBLISH has no packet identifier.
    @Test func publishQoS0Layout() {
        #expect(bytes(.publish(PublishPacket(topic: "a", payload: ByteBuffer(string: "z")))) == [0x30, 0x04, 0x00, 0x01, 0x61, 0x7A])
    }

    /// PUBLISH flags: DUP bit 3, QoS bits 2-1, RETAIN bit 0 (section 3.3.1).
    @Test func publishFlags() {
        let all = MQTTPacket.publish(
            PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, retain: true, dup: true, packetId: 1))
        #expect(bytes(all)[0] == 0x3D)
        let retainOnly = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(), retain: true))
        #expect(bytes(retainOnly)[0] == 0x31)
        let dupQoS1 = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce, dup: true, packetId: 1))
        #expect(bytes(dupQoS1)[0] == 0x3A)
    }

    /// PUBACK, PUBREC, PUBREL, PUBCOMP: type, flags (PUBREL 0010), length 2, identifier (sections 3.4-3.7).
    @Test func acks() {
        let ack = PublishAckPacket(packetId: 0x1234)
        #expect(bytes(.puback(ack)) == [0x40, 0x02, 0x12, 0x34])
        #expect(bytes(.pubrec(ack)) == [0x50, 0x02, 0x12, 0x34])
        #expect(bytes(.pubrel(ack)) == [0x62, 0x02, 0x12, 0x34])
        #expect(bytes(.pubcomp(ack)) == [0x70, 0x02, 0x12, 0x34])
    }

    /// The spec's SUBSCRIBE example: "a/b" QoS 1 and "c/d" QoS 2, packet identifier 10 (section 3.8.3).
    @Test func subscribeSpecExample() {
        let packet = MQTTPacket.subscribe(
            SubscribePacket(
                packetId: 10,
                subscriptions: [
                    .init(filter: "a/b", qos: .atLeastOnce), .init(filter: "c/d", qos: .exactlyOnce),
                ]))
        #expect(bytes(packet) == [0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x01, 0x00, 0x03, 0x63, 0x2F, 0x64, 0x02])
    }

    /// The spec's SUBACK example: return codes 0, 1, 2 and 0x80 (section 3.9.3).
    @Test func subackSpecExample() {
        let codes = [
            SubscribeReturnCode(granted: .atMostOnce), SubscribeReturnCode(granted: .atLeastOnce),
            SubscribeReturnCode(granted: .exactlyOnce), .failure,
        ]
        #expect(bytes(.suback(SubAckPacket(packetId: 10, returnCodes: codes))) == [0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x80])
    }

    /// The spec's UNSUBSCRIBE example: "a/b" and "c/d" (section 3.10.3), and UNSUBACK (section 3.11).
    @Test func unsubscribeSpecExample() {
        let packet = MQTTPacket.unsubscribe(UnsubscribePacket(packetId: 10, filters: ["a/b", "c/d"]))
        #expect(bytes(packet) == [0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x03, 0x63, 0x2F, 0x64])
        #expect(bytes(.unsuback(UnsubAckPacket(packetId: 10))) == [0xB0, 0x02, 0x00, 0x0A])
    }

    /// Strings are a big-endian 16-bit length then UTF-8 bytes; the spec's example U+2A6D4 is F0 AA 9B 94 (section 1.5.3).
    @Test func stringEncoding() {
        var buffer = ByteBuffer()
        buffer.writeMQTTString("A\u{2A6D4}")
        #expect(Array(buffer.readableBytesView) == [0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94])
    }

    /// Remaining length uses 1 to 4 bytes at the spec's boundaries (section 2.2.3, table 2.4).
    @Test(
        arguments: [
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
        // Any proper prefix is "need more bytes", not a value.
        for cut in 0..<expected.count {
            #expect(try ByteBuffer(bytes: expected.prefix(cut)).getVariableByteInteger(at: 0) == nil)
        }
    }
}
