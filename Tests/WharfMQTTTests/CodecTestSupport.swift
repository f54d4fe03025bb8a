import NIOCore

@testable import WharfMQTT

/// Encodes packets back to back, as they would travel on one connection.
func wire(_ packets: [MQTTPacket], version: ProtocolVersion = .v3_1_1) -> ByteBuffer {
    var buffer = ByteBuffer()
    for packet in packets { packet.encode(into: &buffer, version: version) }
    return buffer
}

/// Parses every whole packet in `buffer`.
func parseAll(_ buffer: ByteBuffer, asClient: Bool = false, maxPacketSize: Int = 1 << 20) throws(MQTTDecodeError) -> [MQTTPacket] {
    var parser = MQTTPacketParser(maxPacketSize: maxPacketSize, asClient: asClient)
    var buffer = buffer
    var packets: [MQTTPacket] = []
    while let packet = try parser.parse(&buffer) { packets.append(packet) }
    return packets
}

/// The error the parser raises for `bytes`, after an optional good CONNECT.
func decodeError(_ bytes: [UInt8], afterConnect: Bool = true, asClient: Bool = false, maxPacketSize: Int = 1 << 20) -> MQTTDecodeError? {
    var parser = MQTTPacketParser(maxPacketSize: maxPacketSize, asClient: asClient)
    var buffer = ByteBuffer()
    if afterConnect {
        MQTTPacket.connect(ConnectPacket(clientId: "c")).encode(into: &buffer, version: .v3_1_1)
    }
    buffer.writeBytes(bytes)
    do {
        while try parser.parse(&buffer) != nil {}
        return nil
    } catch {
        return error
    }
}

/// The single packet the server-side parser decodes from `bytes` (nil if incomplete or invalid).
func decodeOne(_ bytes: [UInt8], asClient: Bool = false) -> MQTTPacket? {
    var parser = MQTTPacketParser(asClient: asClient)
    var buffer = ByteBuffer(bytes: bytes)
    guard let packet = try? parser.parse(&buffer), buffer.readableBytes == 0 else { return nil }
    return packet
}

func bytes(_ packet: MQTTPacket) -> [UInt8] {
    Array(wire([packet]).readableBytesView)
}

/// A whole packet: first byte, remaining length (variable byte integer), body.
func frame(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
    var buffer = ByteBuffer()
    buffer.writeInteger(first)
    buffer.writeVariableByteInteger(body.count)
    buffer.writeBytes(body)
    return Array(buffer.readableBytesView)
}

/// A length-prefixed field holding exactly `raw` (which need not be valid UTF-8).
func field(_ raw: [UInt8]) -> [UInt8] {
    [UInt8(raw.count >> 8), UInt8(raw.count & 0xFF)] + raw
}

/// A length-prefixed UTF-8 string field.
func field(_ string: String) -> [UInt8] {
    field(Array(string.utf8))
}

/// A CONNECT built by hand, so any byte of it can be wrong.
func connectBytes(name: String = "MQTT", level: UInt8 = 4, flags: UInt8 = 0x02, keepAlive: UInt16 = 60, payload: [UInt8] = field("c"))
    -> [UInt8]
{
    frame(0x10, field(name) + [level, flags, UInt8(keepAlive >> 8), UInt8(keepAlive & 0xFF)] + payload)
}

/// The server-bound packets of every type, with their optional parts varied.
let serverBoundSamples: [MQTTPacket] = [
    .connect(ConnectPacket(clientId: "client-1", cleanSession: true, keepAlive: 30)),
    .connect(
        ConnectPacket(
            clientId: "c2", cleanSession: false, keepAlive: 0,
            will: .init(topic: "last/will", payload: ByteBuffer(string: "bye"), qos: .exactlyOnce, retain: true),
            username: "user", password: ByteBuffer(bytes: [0, 1, 2, 255])
        )),
    .connect(ConnectPacket(version: .v3_1, clientId: "old-client", username: "u")),
    .connect(ConnectPacket(clientId: "", cleanSession: true)),
    .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hello"))),
    .publish(PublishPacket(topic: "a", payload: ByteBuffer(), qos: .atLeastOnce, retain: true, packetId: 1)),
    .publish(
        PublishPacket(topic: "ü/€/𝄞", payload: ByteBuffer(repeating: 7, count: 70_000), qos: .exactlyOnce, dup: true, packetId: 65535)),
    .puback(PublishAckPacket(packetId: 10)),
    .pubrec(PublishAckPacket(packetId: 11)),
    .pubrel(PublishAckPacket(packetId: 12)),
    .pubcomp(PublishAckPacket(packetId: 13)),
    .subscribe(
        SubscribePacket(
            packetId: 2,
            subscriptions: [
                .init(filter: "a/+/c", qos: .atMostOnce), .init(filter: "#", qos: .atLeastOnce), .init(filter: "x", qos: .exactlyOnce),
            ])),
    .unsubscribe(UnsubscribePacket(packetId: 3, filters: ["a/+/c", "#"])),
    .pingreq,
    .disconnect(DisconnectPacket()),
]

/// The client-bound packets of every type.
let clientBoundSamples: [MQTTPacket] = [
    .connack(ConnAckPacket(sessionPresent: true, returnCode: .accepted)),
    .connack(ConnAckPacket(sessionPresent: false, returnCode: .notAuthorized)),
    .publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetId: 9)),
    .puback(PublishAckPacket(packetId: 1)),
    .pubrec(PublishAckPacket(packetId: 3)),
    .pubrel(PublishAckPacket(packetId: 2)),
    .pubcomp(PublishAckPacket(packetId: 4)),
    .suback(
        SubAckPacket(
            packetId: 4, returnCodes: [SubscribeReturnCode(granted: .exactlyOnce), .failure, SubscribeReturnCode(granted: .atMostOnce)])),
    .unsuback(UnsubAckPacket(packetId: 5)),
    .pingresp,
]
