import NIOCore
import Testing

@testable import WharfMQTT

/// PUBLISH and string-encoding rules (3.1.1 sections 1.5.3, 3.3 and 4.7): the exact error for each.
@Suite struct MalformedPublishTests {
    /// A QoS 0 PUBLISH to topic bytes `topic` (length-prefixed as given).
    private func publish(topic: [UInt8]) -> [UInt8] {
        frame(0x30, field(topic))
    }

    /// QoS bits 11 are malformed, with or without DUP and RETAIN (section 3.3.1.2).
    @Test(arguments: [0x36, 0x37, 0x3E, 0x3F] as [UInt8])
    func qos3(first: UInt8) {
        #expect(decodeError(frame(first, field("a") + [0x00, 0x01])) == .invalidQoS(3))
    }

    /// DUP set on a QoS 0 PUBLISH is malformed (section 3.3.1.1).
    @Test(arguments: [0x38, 0x39] as [UInt8])
    func dupWithQoS0(first: UInt8) {
        #expect(decodeError(frame(first, field("a"))) == .invalidFixedHeaderFlags(packetType: 3, flags: first & 0x0F))
    }

    /// Ill-formed UTF-8 in the topic is malformed: overlong NUL, lone 0xFF, encoded surrogates,
    /// stray continuation, cut-short sequence, beyond U+10FFFF, overlong forms, 5-byte form (section 1.5.3).
    @Test(
        arguments: [
            [0xC0, 0x80], [0xFF], [0xFE], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0x80], [0x61, 0xBF],
            [0xC3, 0x28], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF],
            [0xC1, 0xBF], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
        ] as [[UInt8]])
    func invalidUTF8InTopic(_ topic: [UInt8]) {
        #expect(decodeError(publish(topic: topic)) == .invalidUTF8)
    }

    /// Well-formed multi-byte UTF-8 at the edges of each length class is accepted.
    @Test(
        arguments: [
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xF0, 0x90, 0x80, 0x80],
            [0xF4, 0x8F, 0xBF, 0xBF],
        ] as [[UInt8]])
    func validUTF8InTopic(_ topic: [UInt8]) {
        #expect(decodeError(publish(topic: topic)) == nil)
    }

    /// U+0000 in a topic is malformed, wherever it is (section 1.5.3).
    @Test(arguments: [[0x00], [0x61, 0x00], [0x00, 0x61], [0x61, 0x00, 0x62]] as [[UInt8]])
    func nullInTopic(_ topic: [UInt8]) {
        #expect(decodeError(publish(topic: topic)) == .nullCharacterInString)
    }

    /// A PUBLISH topic name must not contain + or #, anywhere (section 3.3.2.1).
    @Test(arguments: ["+", "#", "a/+", "a/#", "a/+/b", "+/+", "sport+", "#a", "a/b#"])
    func wildcardInTopic(_ topic: String) {
        #expect(decodeError(publish(topic: Array(topic.utf8))) == .invalidTopicName(topic))
    }

    /// A zero-length topic name is malformed (section 4.7.3).
    @Test func emptyTopic() {
        #expect(decodeError(publish(topic: [])) == .invalidTopicName(""))
    }

    /// Packet identifier 0 in a QoS 1 or QoS 2 PUBLISH is malformed (section 2.3.1).
    @Test(arguments: [0x32, 0x34, 0x3A, 0x3C] as [UInt8])
    func zeroPacketIdentifier(first: UInt8) {
        #expect(decodeError(frame(first, field("a") + [0x00, 0x00, 0x70])) == .zeroPacketIdentifier)
    }

    /// A QoS 1 PUBLISH that ends before its packet identifier is truncated.
    @Test func missingPacketIdentifier() {
        #expect(decodeError(frame(0x32, field("a") + [0x00])) == .truncated(field: "packet identifier"))
    }

    /// A topic length longer than the packet is truncated, not read into the next packet.
    @Test func topicLongerThanPacket() {
        #expect(
            decodeError([0x30, 0x04, 0x00, 0x09, 0x61, 0x62] + [0xC0, 0x00, 0xC0, 0x00, 0xC0, 0x00]) == .truncated(field: "topic name"))
    }

    /// A PUBLISH whose remaining length cannot hold the topic length is truncated.
    @Test func bodyShorterThanLengthField() {
        #expect(decodeError([0x30, 0x01, 0x00]) == .truncated(field: "topic name"))
    }

    /// A QoS 0 PUBLISH carries no identifier: the two bytes after the topic are payload.
    @Test func qos0HasNoIdentifier() {
        guard case .publish(let packet)? = decodeOne(frame(0x30, field("a") + [0x00, 0x00])) else {
            Issue.record("not decoded")
            return
        }
        #expect(packet.packetId == nil)
        #expect(Array(packet.payload.readableBytesView) == [0x00, 0x00])
    }
}
