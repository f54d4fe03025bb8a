import NIOCore
import Testing

@testable import WharfMQTT

/// Fixed-header and framing rules (3.1.1 sections 2.2 and 4.8): the exact error the
/// server-side parser raises (the connection handler closes on any of them).
@Suite struct MalformedPacketTests {
    /// Valid bodies for the types whose flags are fixed, keyed by type.
    private static let validBodies: [UInt8: [UInt8]] = [
        1: Array(connectBytes().dropFirst(2)),
        4: [0x00, 0x01], 5: [0x00, 0x01], 6: [0x00, 0x01], 7: [0x00, 0x01],
        8: [0x00, 0x01] + field("a") + [0x00],
        10: [0x00, 0x01] + field("a"),
        12: [], 14: [],
    ]

    /// A fifth remaining-length byte is malformed (section 2.2.3).
    @Test func remainingLengthFiveBytes() {
        #expect(decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .malformedRemainingLength)
    }

    /// A continuation bit on the fourth length byte is enough to know: no fifth byte is awaited.
    @Test func remainingLengthFourthContinuationBit() {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: [0x30, 0x80, 0x80, 0x80, 0x80])
        #expect(throws: MQTTDecodeError.malformedRemainingLength) { _ = try parser.parse(&buffer) }
    }

    /// Packet type 0 is reserved, whatever the flags, and refused from the first byte alone (section 2.2.1).
    @Test(arguments: 0...15 as ClosedRange<UInt8>)
    func reservedType0(flags: UInt8) {
        #expect(decodeError([flags, 0x00]) == .reservedPacketType(0))
        #expect(decodeError([flags], afterConnect: false) == .reservedPacketType(0))
    }

    /// Packet type 15 is reserved in 3.1.1, whatever the flags (section 2.2.1).
    @Test(arguments: 0...15 as ClosedRange<UInt8>)
    func reservedType15(flags: UInt8) {
        #expect(decodeError([0xF0 | flags, 0x00]) == .reservedPacketType(15))
    }

    /// PUBREL, SUBSCRIBE and UNSUBSCRIBE must carry flags 0010; any other value is malformed (section 2.2.2).
    @Test(arguments: [6, 8, 10] as [UInt8], 0...15 as ClosedRange<UInt8>)
    func flags0010Required(type: UInt8, flags: UInt8) throws {
        let packet = frame(type << 4 | flags, try #require(Self.validBodies[type]))
        if flags == 0b0010 {
            #expect(decodeError(packet) == nil)
        } else {
            #expect(decodeError(packet) == .invalidFixedHeaderFlags(packetType: type, flags: flags))
        }
    }

    /// CONNECT, PUBACK, PUBREC, PUBCOMP, PINGREQ and DISCONNECT must carry flags 0000 (section 2.2.2).
    @Test(arguments: [1, 4, 5, 7, 12, 14] as [UInt8], 0...15 as ClosedRange<UInt8>)
    func flags0000Required(type: UInt8, flags: UInt8) throws {
        let packet = frame(type << 4 | flags, try #require(Self.validBodies[type]))
        let afterConnect = type != 1
        if flags == 0 {
            #expect(decodeError(packet, afterConnect: afterConnect) == nil)
        } else {
            #expect(decodeError(packet, afterConnect: afterConnect) == .invalidFixedHeaderFlags(packetType: type, flags: flags))
        }
    }

    /// CONNACK, SUBACK, UNSUBACK and PINGRESP from a client are protocol errors (the server never receives them).
    @Test(
        arguments: [
            ([0x20, 0x02, 0x00, 0x00], "CONNACK"), ([0x90, 0x03, 0x00, 0x01, 0x00], "SUBACK"),
            ([0xB0, 0x02, 0x00, 0x01], "UNSUBACK"), ([0xD0, 0x00], "PINGRESP"),
        ] as [([UInt8], String)])
    func clientOnlyPackets(_ packet: [UInt8], _ name: String) {
        #expect(decodeError(packet) == .clientOnlyPacket(name))
        #expect(decodeError(packet, asClient: true) == nil, "the client-side parser accepts them")
    }

    /// A fixed-size packet with bytes after its packet identifier is malformed (PUBACK with remaining length 3).
    @Test(arguments: [0x40, 0x50, 0x62, 0x70] as [UInt8])
    func trailingBytesAfterAck(first: UInt8) {
        let name = ["PUBACK", "PUBREC", "PUBREL", "PUBCOMP"][Int(first >> 4) - 4]
        #expect(decodeError([first, 0x03, 0x00, 0x01, 0x00]) == .trailingBytes(packet: name, count: 1))
    }

    /// PINGREQ and DISCONNECT have no body; a byte in it is malformed.
    @Test func trailingBytesAfterEmptyPackets() {
        #expect(decodeError([0xC0, 0x01, 0x00]) == .trailingBytes(packet: "PINGREQ", count: 1))
        #expect(decodeError([0xE0, 0x02, 0x00, 0x00]) == .trailingBytes(packet: "DISCONNECT", count: 2))
    }

    /// Client-side: CONNACK, UNSUBACK and PINGRESP with extra bytes are malformed.
    @Test func trailingBytesClientSide() {
        #expect(
            decodeError([0x20, 0x03, 0x00, 0x00, 0x00], afterConnect: false, asClient: true) == .trailingBytes(packet: "CONNACK", count: 1))
        #expect(
            decodeError([0xB0, 0x03, 0x00, 0x01, 0x00], afterConnect: false, asClient: true) == .trailingBytes(packet: "UNSUBACK", count: 1)
        )
        #expect(decodeError([0xD0, 0x01, 0x00], afterConnect: false, asClient: true) == .trailingBytes(packet: "PINGRESP", count: 1))
    }

    /// A packet identifier cut short by the remaining length is truncated, not read from the next packet.
    @Test func truncatedPacketIdentifier() {
        #expect(decodeError([0x40, 0x01, 0x00, 0xC0, 0x00]) == .truncated(field: "packet identifier"))
        #expect(decodeError([0x40, 0x00, 0xC0, 0x00]) == .truncated(field: "packet identifier"))
    }

    /// Client-side: a CONNACK shorter than 2 bytes is truncated.
    @Test func truncatedConnack() {
        #expect(decodeError([0x20, 0x01, 0x00], afterConnect: false, asClient: true) == .truncated(field: "connect return code"))
    }

    /// Each error maps to the 5.0 reason code a DISCONNECT would carry.
    @Test func reasonCodes() {
        #expect(MQTTDecodeError.packetTooLarge(size: 2, limit: 1).reasonCode == 0x95)
        #expect(MQTTDecodeError.invalidUTF8.reasonCode == 0x81)
        #expect(MQTTDecodeError.malformedRemainingLength.reasonCode == 0x81)
        #expect(MQTTDecodeError.clientOnlyPacket("CONNACK").reasonCode == 0x82)
        #expect(MQTTDecodeError.reservedPacketType(15).reasonCode == 0x82)
        #expect(MQTTDecodeError.unsupportedProtocolVersion(7).reasonCode == 0x84)
    }

    /// Each error has a stable metric label.
    @Test func metricLabels() {
        #expect(MQTTDecodeError.truncated(field: "x").metricLabel == "length_mismatch")
        #expect(MQTTDecodeError.trailingBytes(packet: "PUBACK", count: 1).metricLabel == "length_mismatch")
        #expect(MQTTDecodeError.nullCharacterInString.metricLabel == "invalid_utf8")
        #expect(MQTTDecodeError.reservedPacketType(0).metricLabel == "reserved_packet_type")
        #expect(MQTTDecodeError.invalidFixedHeaderFlags(packetType: 6, flags: 0).metricLabel == "header_flags")
    }
}
