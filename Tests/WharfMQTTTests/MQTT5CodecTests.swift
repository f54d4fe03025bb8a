import NIOCore
import Testing

@testable import WharfMQTT

/// MQTT 5.0 wire format: properties on every packet, reason codes, the short
/// forms of acknowledgements, and the malformed cases the spec names.
@Suite struct MQTT5CodecTests {
    private static let v5Connect = ConnectPacket(version: .v5, clientId: "c5")

    /// Parses `packets` (encoded as 5.0) after a 5.0 CONNECT.
    private func parseAfterConnect(_ packets: [MQTTPacket], asClient: Bool = false) throws -> [MQTTPacket] {
        var parser = MQTTPacketParser(asClient: asClient)
        var buffer = wire([.connect(Self.v5Connect)] + packets, version: .v5)
        var out: [MQTTPacket] = []
        while let packet = try parser.parse(&buffer) { out.append(packet) }
        #expect(buffer.readableBytes == 0)
        return Array(out.dropFirst())
    }

    /// The error for raw bytes sent after a 5.0 CONNECT.
    private func errorAfterConnect(_ bytes: [UInt8]) -> MQTTDecodeError? {
        var parser = MQTTPacketParser()
        var buffer = wire([.connect(Self.v5Connect)], version: .v5)
        buffer.writeBytes(bytes)
        do {
            while try parser.parse(&buffer) != nil {}
            return nil
        } catch {
            return error
        }
    }

    private func properties(_ entries: [(PropertyIdentifier, MQTTProperty.Value)]) -> MQTTProperties {
        var properties = MQTTProperties()
        for (id, value) in entries { properties.append(id, value) }
        return properties
    }

    /// A 5.0 CONNECT with properties, a will with its own properties, and a
    /// password without a user name (allowed in 5.0) decodes as encoded.
    @Test func connectRoundTrip() throws {
        let will = ConnectPacket.Will(
            topic: "w/t", payload: ByteBuffer(string: "bye"), qos: .atLeastOnce, retain: true,
            properties: properties([
                (.willDelayInterval, .fourByteInteger(5)), (.contentType, .string("text/plain")),
                (.userProperty, .stringPair("k", "v")),
            ])
        )
        let connect = ConnectPacket(
            version: .v5, clientId: "c5", cleanSession: false, keepAlive: 30, will: will, username: nil,
            password: ByteBuffer(string: "pw"),
            properties: properties([
                (.sessionExpiryInterval, .fourByteInteger(3600)), (.receiveMaximum, .twoByteInteger(5)),
                (.topicAliasMaximum, .twoByteInteger(10)), (.maximumPacketSize, .fourByteInteger(4096)),
            ])
        )
        var parser = MQTTPacketParser()
        var buffer = wire([.connect(connect)], version: .v5)
        #expect(try parser.parse(&buffer) == .connect(connect))
        #expect(parser.version == .v5)
    }

    /// PUBLISH keeps every property in order, user properties repeated.
    @Test func publishRoundTrip() throws {
        let publish = PublishPacket(
            topic: "a/b", payload: ByteBuffer(string: "p"), qos: .exactlyOnce, packetId: 9,
            properties: properties([
                (.payloadFormatIndicator, .byte(1)), (.messageExpiryInterval, .fourByteInteger(60)),
                (.topicAlias, .twoByteInteger(3)), (.responseTopic, .string("r/t")),
                (.correlationData, .binary(ByteBuffer(bytes: [0, 1, 2]))),
                (.userProperty, .stringPair("a", "1")), (.userProperty, .stringPair("a", "2")),
                (.contentType, .string("application/json")),
            ])
        )
        #expect(try parseAfterConnect([.publish(publish)]) == [.publish(publish)])
    }

    /// An empty topic is allowed in 5.0 (it stands for a topic alias).
    @Test func emptyTopicWithAlias() throws {
        let publish = PublishPacket(
            topic: "", payload: ByteBuffer(string: "p"), properties: properties([(.topicAlias, .twoByteInteger(1))]))
        let parsed = try parseAfterConnect([.publish(publish)])
        guard case .publish(let decoded)? = parsed.first else {
            Issue.record("no publish")
            return
        }
        #expect(decoded.topic.isEmpty && decoded.topicAlias == 1)
    }

    /// Acknowledgements: 2 bytes for success without properties; the reason
    /// code alone when there are no properties; reason code and properties.
    @Test func acknowledgementForms() throws {
        #expect(bytes5(.puback(PublishAckPacket(packetId: 7))) == [0x40, 0x02, 0x00, 0x07])
        #expect(bytes5(.puback(PublishAckPacket(packetId: 7, reasonCode: 0x10))) == [0x40, 0x03, 0x00, 0x07, 0x10])
        let withReason = PublishAckPacket(packetId: 7, reasonCode: 0x97, properties: properties([(.reasonString, .string("full"))]))
        #expect(bytes5(.puback(withReason)) == [0x40, 0x0B, 0x00, 0x07, 0x97, 0x07, 0x1F, 0x00, 0x04] + Array("full".utf8))
        let parsed = try parseAfterConnect([.puback(withReason), .pubrec(PublishAckPacket(packetId: 8, reasonCode: 0x80))])
        #expect(parsed == [.puback(withReason), .pubrec(PublishAckPacket(packetId: 8, reasonCode: 0x80))])
        // A consumer's PUBACK with reason code but no property length (remaining length 3).
        #expect(errorAfterConnect([0x40, 0x03, 0x00, 0x07, 0x83]) == nil)
    }

    /// SUBSCRIBE: subscription options and the subscription identifier.
    @Test func subscribeOptions() throws {
        let subscribe = SubscribePacket(
            packetId: 3,
            subscriptions: [
                .init(filter: "a/#", qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: 2),
                .init(filter: "b", qos: .exactlyOnce, retainHandling: 1),
            ],
            properties: properties([(.subscriptionIdentifier, .variableByteInteger(300))])
        )
        let parsed = try parseAfterConnect([.subscribe(subscribe)])
        #expect(parsed == [.subscribe(subscribe)])
        if case .subscribe(let decoded)? = parsed.first { #expect(decoded.subscriptionIdentifier == 300) }
    }

    /// Server-to-client packets decode on the client side as encoded.
    @Test func serverPacketsRoundTrip() throws {
        let packets: [MQTTPacket] = [
            .connack(
                ConnAckPacket(
                    sessionPresent: true, returnCode: .accepted,
                    properties: properties([(.receiveMaximum, .twoByteInteger(100)), (.assignedClientIdentifier, .string("x"))]))),
            .suback(SubAckPacket(packetId: 1, returnCodes: [.init(rawValue: 1), .topicFilterInvalid])),
            .unsuback(UnsubAckPacket(packetId: 2, reasonCodes: [0x00, 0x11])),
            .disconnect(DisconnectPacket(reasonCode: 0x8E, properties: properties([(.reasonString, .string("taken over"))]))),
            .publish(
                PublishPacket(
                    topic: "t", payload: ByteBuffer(),
                    properties: properties([
                        (.subscriptionIdentifier, .variableByteInteger(1)),
                        (.subscriptionIdentifier, .variableByteInteger(2)),
                    ]))),
        ]
        var parser = MQTTPacketParser(version: .v5, asClient: true)
        var buffer = wire(packets, version: .v5)
        var out: [MQTTPacket] = []
        while let packet = try parser.parse(&buffer) { out.append(packet) }
        #expect(out == packets)
    }

    /// A 3.1.1 client sees 0x80 for what a 5.0 client sees as 0x8F.
    @Test func subackFailureFor311() {
        let suback = MQTTPacket.suback(SubAckPacket(packetId: 1, returnCodes: [.topicFilterInvalid]))
        #expect(bytes(suback) == [0x90, 0x03, 0x00, 0x01, 0x80])
    }

    /// CONNACK carries 5.0 reason codes for 3.1.1 refusals.
    @Test func connackReasonCodes() {
        let refused = MQTTPacket.connack(ConnAckPacket(sessionPresent: false, returnCode: .badUsernameOrPassword))
        #expect(bytes5(refused) == [0x20, 0x03, 0x00, 0x86, 0x00])
        #expect(bytes(refused) == [0x20, 0x02, 0x00, 0x04])
    }

    /// DISCONNECT with no body is reason 0x00; with a reason it is kept.
    @Test func disconnectForms() throws {
        #expect(try parseAfterConnect([.disconnect(DisconnectPacket())]) == [.disconnect(DisconnectPacket())])
        let withWill = DisconnectPacket(reasonCode: 0x04, properties: properties([(.sessionExpiryInterval, .fourByteInteger(0))]))
        #expect(try parseAfterConnect([.disconnect(withWill)]) == [.disconnect(withWill)])
    }

    /// AUTH is a packet in 5.0 (reserved before).
    @Test func authPacket() throws {
        let auth = AuthPacket(reasonCode: 0x18, properties: properties([(.authenticationMethod, .string("SCRAM-SHA-1"))]))
        #expect(try parseAfterConnect([.auth(auth)]) == [.auth(auth)])
        #expect(decodeError([0xF0, 0x00]) == .reservedPacketType(15))  // under 3.1.1
    }

    // MARK: Malformed 5.0 input

    /// PUBLISH header for topic "t", QoS 0, then the given property bytes.
    private func publishWithProperties(_ raw: [UInt8]) -> [UInt8] {
        frame(0x30, field(Array("t".utf8)) + [UInt8(raw.count)] + raw + Array("x".utf8))
    }

    /// The same property twice is a protocol error (0x82).
    @Test func duplicateProperty() {
        let error = errorAfterConnect(publishWithProperties([0x01, 0x00, 0x01, 0x01]))
        #expect(error == .duplicateProperty(0x01))
        #expect(error?.reasonCode == 0x82)
    }

    /// A property the packet may not carry is a malformed packet (0x81).
    @Test func propertyNotAllowed() {
        let error = errorAfterConnect(publishWithProperties([0x11, 0x00, 0x00, 0x00, 0x05]))
        #expect(error == .propertyNotAllowed(property: 0x11, packet: "PUBLISH"))
        #expect(error?.reasonCode == 0x81)
    }

    /// An identifier the spec does not define is a malformed packet.
    @Test func unknownProperty() {
        #expect(errorAfterConnect(publishWithProperties([0x7F, 0x00]))?.reasonCode == 0x81)
    }

    /// Property length running past the packet.
    @Test func propertyLengthPastPacket() {
        #expect(errorAfterConnect(frame(0x30, field(Array("t".utf8)) + [0x20, 0x01, 0x00]))?.reasonCode == 0x81)
    }

    /// A client may not put a subscription identifier in PUBLISH (0x82).
    @Test func subscriptionIdentifierFromClient() {
        #expect(errorAfterConnect(publishWithProperties([0x0B, 0x01]))?.reasonCode == 0x82)
    }

    /// Values the spec forbids: payload format 2, receive maximum 0.
    @Test func forbiddenValues() {
        #expect(errorAfterConnect(publishWithProperties([0x01, 0x02])) == .invalidPropertyValue(property: 0x01, value: 2))
        var connect = Self.v5Connect
        connect.properties.append(.receiveMaximum, .twoByteInteger(0))
        var parser = MQTTPacketParser()
        var buffer = wire([.connect(connect)], version: .v5)
        #expect(throws: MQTTDecodeError.invalidPropertyValue(property: 0x21, value: 0)) { try parser.parse(&buffer) }
    }

    /// Retain handling 3 is a protocol error; option bits 6-7 are reserved.
    @Test func subscriptionOptionErrors() {
        let filter = field(Array("a".utf8))
        #expect(errorAfterConnect(frame(0x82, [0x00, 0x01, 0x00] + filter + [0x30])) == .invalidRetainHandling)
        #expect(errorAfterConnect(frame(0x82, [0x00, 0x01, 0x00] + filter + [0x40])) == .reservedSubscriptionOptionBits(0x40))
    }

    private func bytes5(_ packet: MQTTPacket) -> [UInt8] {
        Array(wire([packet], version: .v5).readableBytesView)
    }
}
