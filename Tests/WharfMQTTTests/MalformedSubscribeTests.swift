import NIOCore
import Testing

@testable import WharfMQTT

/// SUBSCRIBE, UNSUBSCRIBE and acknowledgement rules (3.1.1 sections 2.3.1, 3.8 and 3.10).
@Suite struct MalformedSubscribeTests {
    /// Packet identifier 0 in SUBSCRIBE is malformed (section 2.3.1).
    @Test func subscribeZeroPacketIdentifier() {
        #expect(decodeError(frame(0x82, [0x00, 0x00] + field("a") + [0x00])) == .zeroPacketIdentifier)
    }

    /// Packet identifier 0 in UNSUBSCRIBE is malformed (section 2.3.1).
    @Test func unsubscribeZeroPacketIdentifier() {
        #expect(decodeError(frame(0xA2, [0x00, 0x00] + field("a"))) == .zeroPacketIdentifier)
    }

    /// Packet identifier 0 in PUBACK, PUBREC, PUBREL and PUBCOMP is malformed (section 2.3.1).
    @Test(arguments: [0x40, 0x50, 0x62, 0x70] as [UInt8])
    func ackZeroPacketIdentifier(first: UInt8) {
        #expect(decodeError([first, 0x02, 0x00, 0x00]) == .zeroPacketIdentifier)
    }

    /// A SUBSCRIBE with no topic filter is a protocol violation (section 3.8.3).
    @Test func subscribeWithoutFilters() {
        #expect(decodeError([0x82, 0x02, 0x00, 0x01]) == .emptySubscriptionList)
    }

    /// An UNSUBSCRIBE with no topic filter is a protocol violation (section 3.10.3).
    @Test func unsubscribeWithoutFilters() {
        #expect(decodeError([0xA2, 0x02, 0x00, 0x01]) == .emptyUnsubscribeList)
    }

    /// The upper six bits of a requested-QoS byte are reserved and must be 0 (section 3.8.3.1).
    @Test(arguments: [0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFC, 0xFF, 0x05] as [UInt8])
    func reservedOptionBits(_ options: UInt8) {
        #expect(decodeError(frame(0x82, [0x00, 0x01] + field("a") + [options])) == .reservedSubscriptionOptionBits(options))
    }

    /// Reserved bits in the second of two filters are caught too.
    @Test func reservedOptionBitsInLaterFilter() {
        #expect(
            decodeError(frame(0x82, [0x00, 0x01] + field("a") + [0x01] + field("b") + [0x41])) == .reservedSubscriptionOptionBits(0x41))
    }

    /// Requested QoS 3 is malformed in 3.1.1 (section 3.8.3.1), a Protocol Error in 5.0.
    @Test func requestedQoS3() {
        let error = decodeError(frame(0x82, [0x00, 0x01] + field("a") + [0x03]))
        #expect(error == .invalidSubscriptionQoS)
        #expect(error?.reasonCode == 0x82)
    }

    /// A filter without its requested-QoS byte is truncated.
    @Test func missingRequestedQoS() {
        #expect(decodeError(frame(0x82, [0x00, 0x01] + field("a"))) == .truncated(field: "requested QoS"))
    }

    /// A filter length longer than the packet is truncated.
    @Test func filterLongerThanPacket() {
        #expect(decodeError(frame(0x82, [0x00, 0x01, 0x00, 0x05, 0x61])) == .truncated(field: "topic filter"))
        #expect(decodeError(frame(0xA2, [0x00, 0x01, 0x00, 0x05, 0x61])) == .truncated(field: "topic filter"))
    }

    /// A SUBSCRIBE too short for its packet identifier is truncated.
    @Test func subscribeWithoutPacketIdentifier() {
        #expect(decodeError(frame(0x82, [0x00])) == .truncated(field: "packet identifier"))
    }

    /// Invalid UTF-8 or U+0000 in a topic filter is malformed (section 1.5.3).
    @Test func filterEncoding() {
        #expect(decodeError(frame(0x82, [0x00, 0x01] + field([0xED, 0xA0, 0x80]) + [0x00])) == .invalidUTF8)
        #expect(decodeError(frame(0xA2, [0x00, 0x01] + field([0xC0, 0x80]))) == .invalidUTF8)
        #expect(decodeError(frame(0x82, [0x00, 0x01] + field([0x61, 0x00]) + [0x00])) == .nullCharacterInString)
        #expect(decodeError(frame(0xA2, [0x00, 0x01] + field([0x00]))) == .nullCharacterInString)
    }

    /// Filter syntax is not the codec's business: "a#" decodes, and the session answers 0x80 for it.
    @Test func filterSyntaxLeftToSession() {
        let packet = decodeOne(frame(0x82, [0x00, 0x07] + field("a#") + [0x01]))
        #expect(packet == .subscribe(SubscribePacket(packetId: 7, subscriptions: [.init(filter: "a#", qos: .atLeastOnce)])))
    }
}
