import NIOCore
import Testing

@testable import WharfMQTT

/// Encode, then parse: the same packet comes back, and the parser consumes exactly its bytes.
@Suite struct RoundTripTests {
    private func roundTrip(_ packet: MQTTPacket, asClient: Bool = false) throws -> MQTTPacket? {
        var parser = MQTTPacketParser(asClient: asClient)
        var buffer = wire([packet])
        let size = buffer.readableBytes
        let decoded = try parser.parse(&buffer)
        #expect(buffer.readableBytes == 0, "the whole packet is consumed")
        #expect(parser.lastPacketSize == size)
        return decoded
    }

    /// Every server-bound packet type decodes to exactly what was encoded.
    @Test(arguments: serverBoundSamples)
    func serverBound(_ packet: MQTTPacket) throws {
        #expect(try roundTrip(packet) == packet)
    }

    /// Every client-bound packet type decodes (client side) to exactly what was encoded.
    @Test(arguments: clientBoundSamples)
    func clientBound(_ packet: MQTTPacket) throws {
        #expect(try roundTrip(packet, asClient: true) == packet)
    }

    /// CONNECT with each combination of will, user name and password, in 3.1 and 3.1.1.
    @Test(arguments: [ProtocolVersion.v3_1, .v3_1_1], [false, true])
    func connectVariants(version: ProtocolVersion, cleanSession: Bool) throws {
        let will = ConnectPacket.Will(topic: "status/c", payload: ByteBuffer(bytes: [0x00, 0xFF, 0x80]), qos: .atLeastOnce, retain: false)
        let variants: [ConnectPacket] = [
            ConnectPacket(version: version, clientId: "id", cleanSession: cleanSession),
            ConnectPacket(version: version, clientId: "id", cleanSession: cleanSession, will: will),
            ConnectPacket(version: version, clientId: "id", cleanSession: cleanSession, username: "alice"),
            ConnectPacket(
                version: version, clientId: "id", cleanSession: cleanSession, username: "alice", password: ByteBuffer(string: "s3cret")),
            ConnectPacket(
                version: version, clientId: "id", cleanSession: cleanSession, keepAlive: 65535, will: will, username: "",
                password: ByteBuffer()),
        ]
        for connect in variants {
            let decoded = try roundTrip(.connect(connect))
            #expect(decoded == .connect(connect))
        }
    }

    /// Each will QoS and the will retain flag survive the CONNECT flags byte.
    @Test(arguments: [QoS.atMostOnce, .atLeastOnce, .exactlyOnce], [false, true])
    func willQoSAndRetain(qos: QoS, retain: Bool) throws {
        let connect = ConnectPacket(clientId: "w", will: .init(topic: "w", payload: ByteBuffer(string: "gone"), qos: qos, retain: retain))
        #expect(try roundTrip(.connect(connect)) == .connect(connect))
    }

    /// The parser's protocol level follows the CONNECT it parsed.
    @Test(arguments: [ProtocolVersion.v3_1, .v3_1_1])
    func versionFollowsConnect(version: ProtocolVersion) throws {
        var parser = MQTTPacketParser()
        var buffer = wire([.connect(ConnectPacket(version: version, clientId: "x"))])
        _ = try parser.parse(&buffer)
        #expect(parser.version == version)
    }

    /// CONNACK with every 3.1.1 return code and both session-present values.
    @Test(arguments: 0...5 as ClosedRange<UInt8>)
    func connack(code: UInt8) throws {
        for present in [false, true] {
            let packet = MQTTPacket.connack(ConnAckPacket(sessionPresent: present, returnCode: ConnectReturnCode(rawValue: code)))
            #expect(try roundTrip(packet, asClient: true) == packet)
        }
    }

    /// PUBLISH at QoS 0, 1 and 2, with and without retain; DUP only where allowed.
    @Test(arguments: [QoS.atMostOnce, .atLeastOnce, .exactlyOnce], [false, true])
    func publish(qos: QoS, retain: Bool) throws {
        let dups = qos == .atMostOnce ? [false] : [false, true]
        for dup in dups {
            let packet = MQTTPacket.publish(
                PublishPacket(
                    topic: "sensors/1/temp", payload: ByteBuffer(string: "21.5"), qos: qos, retain: retain, dup: dup,
                    packetId: qos == .atMostOnce ? nil : 777
                ))
            #expect(try roundTrip(packet) == packet)
            #expect(try roundTrip(packet, asClient: true) == packet)
        }
    }

    /// An empty payload is legal (a retained empty payload clears the retained message).
    @Test func publishEmptyPayload() throws {
        let packet = MQTTPacket.publish(PublishPacket(topic: "a/b", payload: ByteBuffer(), retain: true))
        #expect(bytes(packet) == [0x31, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x62])
        #expect(try roundTrip(packet) == packet)
    }

    /// A PUBLISH with a zero-length topic is rejected, not round-tripped (section 4.7.3).
    @Test func publishEmptyTopicRejected() {
        #expect(throws: MQTTDecodeError.invalidTopicName("")) {
            _ = try parseAll(wire([.publish(PublishPacket(topic: "", payload: ByteBuffer(string: "x")))]))
        }
    }

    /// Payload bytes, including 0x00 and invalid UTF-8, come through untouched.
    @Test func publishBinaryPayload() throws {
        let payload = ByteBuffer(bytes: Array(0...255))
        let packet = MQTTPacket.publish(PublishPacket(topic: "bin", payload: payload))
        guard case .publish(let decoded)? = try roundTrip(packet) else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(Array(decoded.payload.readableBytesView) == Array(0...255))
    }

    /// A topic of the maximum string length (65535 bytes) round-trips.
    @Test func maximumLengthTopic() throws {
        let topic = String(repeating: "t", count: 65_535)
        let packet = MQTTPacket.publish(PublishPacket(topic: topic, payload: ByteBuffer(string: "p")))
        #expect(try roundTrip(packet) == packet)
    }

    /// Strings are not normalized and a BOM is not stripped: the bytes decoded are the bytes sent (section 1.5.3).
    @Test(arguments: ["caf\u{E9}", "cafe\u{301}", "\u{FEFF}bom", "a/\u{301}b", "\u{10FFFF}", "\u{FFFF}"])
    func stringBytesPreserved(_ topic: String) throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: frame(0x30, field(topic)))
        guard case .publish(let decoded)? = try parser.parse(&buffer) else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(Array(decoded.topic.utf8) == Array(topic.utf8))
    }

    /// PUBACK, PUBREC, PUBREL and PUBCOMP carry any non-zero packet identifier, both directions.
    @Test(arguments: [1, 2, 255, 256, 65535] as [UInt16])
    func acks(id: UInt16) throws {
        let ack = PublishAckPacket(packetId: id)
        for packet in [MQTTPacket.puback(ack), .pubrec(ack), .pubrel(ack), .pubcomp(ack)] {
            #expect(try roundTrip(packet) == packet)
            #expect(try roundTrip(packet, asClient: true) == packet)
        }
    }

    /// SUBSCRIBE with several filters keeps their order and QoS.
    @Test func subscribeMultipleFilters() throws {
        let subscriptions = (0..<50).map { SubscribePacket.Subscription(filter: "f/\($0)/+", qos: QoS(rawValue: UInt8($0 % 3))!) }
        let packet = MQTTPacket.subscribe(SubscribePacket(packetId: 65535, subscriptions: subscriptions))
        #expect(try roundTrip(packet) == packet)
    }

    /// SUBACK with every return code, including 0x80 failure, parsed client side.
    @Test func subackAllCodes() throws {
        let codes = [
            SubscribeReturnCode(granted: .atMostOnce), SubscribeReturnCode(granted: .atLeastOnce),
            SubscribeReturnCode(granted: .exactlyOnce), .failure,
        ]
        let packet = MQTTPacket.suback(SubAckPacket(packetId: 9, returnCodes: codes))
        guard case .suback(let decoded)? = try roundTrip(packet, asClient: true) else {
            Issue.record("not a SUBACK")
            return
        }
        #expect(decoded.returnCodes == codes)
        #expect(decoded.returnCodes.map(\.grantedQoS) == [.atMostOnce, .atLeastOnce, .exactlyOnce, nil])
    }

    /// UNSUBSCRIBE with several filters, and its UNSUBACK.
    @Test func unsubscribeAndUnsuback() throws {
        let unsubscribe = MQTTPacket.unsubscribe(UnsubscribePacket(packetId: 300, filters: ["a", "b/#", "+/c", "ü"]))
        #expect(try roundTrip(unsubscribe) == unsubscribe)
        let unsuback = MQTTPacket.unsuback(UnsubAckPacket(packetId: 300))
        #expect(try roundTrip(unsuback, asClient: true) == unsuback)
    }

    /// PINGREQ, PINGRESP and DISCONNECT have no body.
    @Test func emptyPackets() throws {
        #expect(try roundTrip(.pingreq) == .pingreq)
        #expect(try roundTrip(.pingresp, asClient: true) == .pingresp)
        #expect(try roundTrip(.disconnect(DisconnectPacket())) == .disconnect(DisconnectPacket()))
    }

    /// The packet type reported matches the high nibble of the first byte.
    @Test(arguments: serverBoundSamples + clientBoundSamples)
    func typeMatchesFirstByte(_ packet: MQTTPacket) {
        #expect(bytes(packet)[0] >> 4 == packet.type.rawValue)
    }

    /// The header written for deliveries matches the full encoder byte for byte.
    @Test func deliveryHeaderMatchesEncoder() {
        let packet = PublishPacket(
            topic: "a/b", payload: ByteBuffer(string: "payload"), qos: .atLeastOnce, retain: true, dup: true, packetId: 42)
        var manual = ByteBuffer()
        PublishPacket.writeHeader(topic: "a/b", qos: .atLeastOnce, retain: true, dup: true, packetId: 42, payloadLength: 7, into: &manual)
        manual.writeString("payload")
        #expect(manual == wire([.publish(packet)]))
    }
}
