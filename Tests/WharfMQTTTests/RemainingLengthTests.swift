import NIOCore
import Testing

@testable import WharfMQTT

/// Real packets whose remaining length sits at each encoding boundary, and the packet-size limit.
@Suite struct RemainingLengthTests {
    /// A QoS 0 PUBLISH to topic "t" whose remaining length is exactly `remaining`.
    private func publish(remaining: Int) -> MQTTPacket {
        .publish(PublishPacket(topic: "t", payload: ByteBuffer(repeating: 0xAB, count: remaining - 3)))
    }

    /// PUBLISH at remaining lengths 127, 128, 16383, 16384, 2097151 and 2097152 encodes the right header and parses back.
    @Test(
        arguments: [
            (127, [0x30, 0x7F]), (128, [0x30, 0x80, 0x01]), (16_383, [0x30, 0xFF, 0x7F]), (16_384, [0x30, 0x80, 0x80, 0x01]),
            (2_097_151, [0x30, 0xFF, 0xFF, 0x7F]), (2_097_152, [0x30, 0x80, 0x80, 0x80, 0x01]),
        ] as [(Int, [UInt8])])
    func boundary(_ remaining: Int, _ header: [UInt8]) throws {
        let packet = publish(remaining: remaining)
        var buffer = wire([packet])
        #expect(Array(buffer.readableBytesView.prefix(header.count)) == header)
        #expect(buffer.readableBytes == header.count + remaining)
        var parser = MQTTPacketParser(maxPacketSize: 4 << 20)
        #expect(try parser.parse(&buffer) == packet)
        #expect(parser.lastPacketSize == header.count + remaining)
        #expect(buffer.readableBytes == 0)
    }

    /// Remaining length 0: PINGREQ is exactly two bytes on the wire.
    @Test func zero() throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: [0xC0, 0x00, 0xC0])
        #expect(try parser.parse(&buffer) == .pingreq)
        #expect(parser.lastPacketSize == 2)
        #expect(buffer.readableBytes == 1)
    }

    /// The largest remaining length (268435455) is a valid header: the parser waits for the body under the default limit.
    @Test func maximumWaitsForBody() throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01])
        #expect(try parser.parse(&buffer) == nil)
        #expect(buffer.readableBytes == 7, "nothing consumed")
    }

    /// The same header is refused at once when the limit is one byte short of 268435460.
    @Test func maximumRefusedByLimit() {
        var parser = MQTTPacketParser(maxPacketSize: 268_435_459)
        var buffer = ByteBuffer(bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 268_435_460, limit: 268_435_459)) { _ = try parser.parse(&buffer) }
    }

    /// An over-size packet is refused from its header alone (3 bytes), before any body arrives.
    @Test func oversizeRefusedFromHeader() {
        var parser = MQTTPacketParser(maxPacketSize: 1024)
        var buffer = ByteBuffer(bytes: [0x30, 0x80, 0x08])  // remaining 1024: 1027 in all
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 1027, limit: 1024)) { _ = try parser.parse(&buffer) }
    }

    /// The size limit counts the fixed header: exactly the limit (3 + 197 = 200 bytes) parses, 201 is refused.
    @Test func limitIncludesHeader() throws {
        var parser = MQTTPacketParser(maxPacketSize: 200)
        let exact = publish(remaining: 197)
        var buffer = wire([exact])
        #expect(buffer.readableBytes == 200)
        #expect(try parser.parse(&buffer) == exact)
        var tooBig = wire([publish(remaining: 198)])
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 201, limit: 200)) { _ = try parser.parse(&tooBig) }
    }

    /// Over-size is judged per packet: packets before the big one still come out.
    @Test func oversizeAfterGoodPackets() throws {
        var parser = MQTTPacketParser(maxPacketSize: 64)
        var buffer = wire([.pingreq, .puback(PublishAckPacket(packetId: 1))])
        buffer.writeBytes([0x30, 0x41])  // remaining 65: 67 bytes
        #expect(try parser.parse(&buffer) == .pingreq)
        #expect(try parser.parse(&buffer) == .puback(PublishAckPacket(packetId: 1)))
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 67, limit: 64)) { _ = try parser.parse(&buffer) }
    }

    /// A remaining length still being received is "need more", even under a tiny limit.
    @Test func incompleteLengthWaits() throws {
        var parser = MQTTPacketParser(maxPacketSize: 16)
        for header in [[0x30], [0x30, 0x80], [0x30, 0x80, 0x80], [0x30, 0xFF, 0xFF, 0xFF]] as [[UInt8]] {
            var buffer = ByteBuffer(bytes: header)
            #expect(try parser.parse(&buffer) == nil)
        }
    }
}
