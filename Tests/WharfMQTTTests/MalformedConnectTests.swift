import NIOCore
import Testing

@testable import WharfMQTT

/// CONNECT rules (3.1.1 section 3.1): the exact error for each, with every other byte valid.
@Suite struct MalformedConnectTests {
    private func error(_ packet: [UInt8]) -> MQTTDecodeError? {
        decodeError(packet, afterConnect: false)
    }

    /// The hand-built CONNECT used below is itself valid, in 3.1.1 and 3.1.
    @Test func baselineIsValid() {
        #expect(decodeOne(connectBytes()) == .connect(ConnectPacket(clientId: "c", keepAlive: 60)))
        #expect(decodeOne(connectBytes(name: "MQIsdp", level: 3)) == .connect(ConnectPacket(version: .v3_1, clientId: "c", keepAlive: 60)))
    }

    /// A protocol name other than "MQTT" (or "MQIsdp") is refused (section 3.1.2.1).
    @Test(arguments: ["MQTX", "mqtt", "MQTT ", "", "MQIsdpX"])
    func badProtocolName(_ name: String) {
        #expect(error(connectBytes(name: name)) == .invalidProtocolName(name))
    }

    /// Protocol level 6 (no such MQTT version) is unsupported (section 3.1.2.2).
    @Test func protocolLevel6() {
        #expect(error(connectBytes(level: 6)) == .unsupportedProtocolVersion(6))
    }

    /// Protocol level 7 is unsupported.
    @Test func protocolLevel7() {
        #expect(error(connectBytes(level: 7)) == .unsupportedProtocolVersion(7))
    }

    /// Levels 0, 1, 2 and 255 are unsupported.
    @Test(arguments: [0, 1, 2, 255] as [UInt8])
    func otherProtocolLevels(_ level: UInt8) {
        #expect(error(connectBytes(level: level)) == .unsupportedProtocolVersion(level))
    }

    /// The protocol name must match the level: "MQTT" with 3 and "MQIsdp" with 4 are refused.
    @Test func nameLevelMismatch() {
        #expect(error(connectBytes(name: "MQTT", level: 3)) == .unsupportedProtocolVersion(3))
        #expect(error(connectBytes(name: "MQIsdp", level: 4)) == .unsupportedProtocolVersion(4))
    }

    /// The reserved connect flag (bit 0) must be 0 (section 3.1.2.3).
    @Test func reservedConnectFlag() {
        #expect(error(connectBytes(flags: 0x03)) == .reservedConnectFlagSet)
        #expect(error(connectBytes(flags: 0x01)) == .reservedConnectFlagSet)
    }

    /// Will QoS 3 with the will flag set is malformed (section 3.1.2.6).
    @Test func willQoS3() {
        let payload = field("c") + field("t") + field([])
        #expect(error(connectBytes(flags: 0x02 | 0x04 | 0x18, payload: payload)) == .invalidQoS(3))
    }

    /// Will QoS 1, 2 or 3 without the will flag is malformed (section 3.1.2.6).
    @Test(arguments: [0x08, 0x10, 0x18] as [UInt8])
    func willQoSWithoutWillFlag(_ bits: UInt8) {
        #expect(error(connectBytes(flags: 0x02 | bits)) == .invalidWillFlags)
    }

    /// Will retain without the will flag is malformed (section 3.1.2.7).
    @Test func willRetainWithoutWillFlag() {
        #expect(error(connectBytes(flags: 0x02 | 0x20)) == .invalidWillFlags)
    }

    /// The password flag without the user name flag is malformed (section 3.1.2.9).
    @Test func passwordWithoutUsername() {
        #expect(error(connectBytes(flags: 0x02 | 0x40, payload: field("c") + field("pw"))) == .passwordWithoutUsername)
    }

    /// A will topic with a wildcard is not a topic name.
    @Test func willTopicWithWildcard() {
        let packet = bytes(
            .connect(ConnectPacket(clientId: "c", will: .init(topic: "a/#", payload: ByteBuffer(), qos: .atMostOnce, retain: false))))
        #expect(error(packet) == .invalidTopicName("a/#"))
    }

    /// An empty will topic is not a topic name (section 4.7.3).
    @Test func emptyWillTopic() {
        #expect(error(connectBytes(flags: 0x06, payload: field("c") + field("") + field("m"))) == .invalidTopicName(""))
    }

    /// The will flag without a will topic in the payload is truncated.
    @Test func missingWillTopic() {
        #expect(error(connectBytes(flags: 0x06)) == .truncated(field: "will topic"))
    }

    /// The will flag with a topic but no will message is truncated.
    @Test func missingWillMessage() {
        #expect(error(connectBytes(flags: 0x06, payload: field("c") + field("t"))) == .truncated(field: "will message"))
    }

    /// The user name flag without a user name is truncated.
    @Test func missingUsername() {
        #expect(error(connectBytes(flags: 0x82)) == .truncated(field: "user name"))
    }

    /// The password flag without a password is truncated.
    @Test func missingPassword() {
        #expect(error(connectBytes(flags: 0xC2, payload: field("c") + field("u"))) == .truncated(field: "password"))
    }

    /// A CONNECT that ends inside the keep-alive is truncated.
    @Test func truncatedKeepAlive() {
        #expect(error(frame(0x10, field("MQTT") + [0x04, 0x02, 0x00])) == .truncated(field: "keep alive"))
    }

    /// A client identifier longer than the packet is truncated.
    @Test func clientIdLongerThanPacket() {
        #expect(error(connectBytes(payload: [0x00, 0x05, 0x61])) == .truncated(field: "client identifier"))
    }

    /// Bytes after the last field the flags announce are malformed.
    @Test func trailingBytes() {
        #expect(error(connectBytes(payload: field("c") + [0x00])) == .trailingBytes(packet: "CONNECT", count: 1))
        #expect(
            error(connectBytes(payload: field("c") + field("u"))) == .trailingBytes(packet: "CONNECT", count: 3),
            "user name without its flag")
    }

    /// A client identifier with invalid UTF-8 is malformed (section 1.5.3).
    @Test func clientIdInvalidUTF8() {
        #expect(error(connectBytes(payload: field([0x61, 0xFF]))) == .invalidUTF8)
    }

    /// A user name containing U+0000 is malformed (section 1.5.3).
    @Test func usernameWithNull() {
        #expect(error(connectBytes(flags: 0x82, payload: field("c") + field([0x75, 0x00]))) == .nullCharacterInString)
    }

    /// Password and will message are binary: 0x00 and 0xFF are allowed in them.
    @Test func binaryFieldsAcceptAnyByte() throws {
        let packet = connectBytes(flags: 0xC6, payload: field("c") + field("t") + field([0x00, 0xFF]) + field("u") + field([0xFF, 0x00]))
        guard case .connect(let connect)? = decodeOne(packet) else {
            Issue.record("not decoded")
            return
        }
        #expect(connect.will.map { Array($0.payload.readableBytesView) } == [0x00, 0xFF])
        #expect(connect.password.map { Array($0.readableBytesView) } == [0xFF, 0x00])
    }
}
