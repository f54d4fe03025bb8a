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

/// The error the server-side parser raises for `bytes`, after an optional good CONNECT.
func decodeError(_ bytes: [UInt8], afterConnect: Bool = true, maxPacketSize: Int = 1 << 20) -> MQTTDecodeError? {
    var parser = MQTTPacketParser(maxPacketSize: maxPacketSize)
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

func bytes(_ packet: MQTTPacket) -> [UInt8] {
    Array(wire([packet]).readableBytesView)
}

/// The server-bound packets of every type, with their optional parts varied.
let serverBoundSamples: [MQTTPacket] = [
    .connect(ConnectPacket(clientId: "client-1", cleanSession: true, keepAlive: 30)),
    .connect(ConnectPacket(
        clientId: "c2", cleanSession: false, keepAlive: 0,
        will: .init(topic: "last/will", payload: ByteBuffer(string: "bye"), qos: .exactlyOnce, retain: true),
        username: "user", password: ByteBuffer(bytes: [0, 1, 2, 255])
    )),
    .connect(ConnectPacket(version: .v3_1, clientId: "old-client", username: "u")),
    .connect(ConnectPacket(clientId: "", cleanSession: true)),
    .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hello"))),
    .publish(PublishPacket(topic: "a", payload: ByteBuffer(), qos: .atLeastOnce, retain: true, packetId: 1)),
    .publish(PublishPacket(topic: "ü/€/𝄞", payload: ByteBuffer(repeating: 7, count: 70_000), qos: .exactlyOnce, dup: true, packetId: 65535)),
    .puback(PublishAckPacket(packetId: 10)),
    .pubrec(PublishAckPacket(packetId: 11)),
    .pubrel(PublishAckPacket(packetId: 12)),
    .pubcomp(PublishAckPacket(packetId: 13)),
    .subscribe(SubscribePacket(packetId: 2, subscriptions: [
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
    .pubrel(PublishAckPacket(packetId: 2)),
    .suback(SubAckPacket(packetId: 4, returnCodes: [SubscribeReturnCode(granted: .exactlyOnce), .failure, SubscribeReturnCode(granted: .atMostOnce)])),
    .unsuback(UnsubAckPacket(packetId: 5)),
    .pingresp,
]
