import NIOCore
import Testing
@testable import WharfMQTT

@Suite struct RoundTripTests {
    /// Every server-bound packet type decodes to exactly what was encoded.
    @Test(arguments: serverBoundSamples)
    func serverBound(_ packet: MQTTPacket) throws {
        let decoded = try parseAll(wire([packet]))
        #expect(decoded == [packet])
    }

    /// Every client-bound packet type decodes (client side) to exactly what was encoded.
    @Test(arguments: clientBoundSamples)
    func clientBound(_ packet: MQTTPacket) throws {
        let decoded = try parseAll(wire([packet]), asClient: true)
        #expect(decoded == [packet])
    }

    /// The parser reports each packet's size on the wire.
    @Test func wireSize() throws {
        var parser = MQTTPacketParser()
        var buffer = wire([.pingreq])
        _ = try parser.parse(&buffer)
        #expect(parser.lastPacketSize == 2)
    }

    /// A 3.1 CONNECT switches the parser's version; 3.1.1 is the default.
    @Test func versionFollowsConnect() throws {
        var parser = MQTTPacketParser()
        var buffer = wire([.connect(ConnectPacket(version: .v3_1, clientId: "x"))])
        _ = try parser.parse(&buffer)
        #expect(parser.version == .v3_1)
    }

    /// The header written for deliveries matches the full encoder byte for byte.
    @Test func deliveryHeaderMatchesEncoder() {
        let packet = PublishPacket(topic: "a/b", payload: ByteBuffer(string: "payload"), qos: .atLeastOnce, retain: true, dup: true, packetId: 42)
        var manual = ByteBuffer()
        PublishPacket.writeHeader(topic: "a/b", qos: .atLeastOnce, retain: true, dup: true, packetId: 42, payloadLength: 7, into: &manual)
        manual.writeString("payload")
        #expect(manual == wire([.publish(packet)]))
    }
}
