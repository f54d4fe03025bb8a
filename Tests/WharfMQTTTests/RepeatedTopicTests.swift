import NIOCore
import Testing

@testable import WharfMQTT

/// The parser hands back its last PUBLISH topic for the same bytes: the
/// result is the same as a fresh decode, and checks still apply to new topics.
@Suite struct RepeatedTopicTests {
    private func publish(_ topic: String, _ payload: String = "x") -> ByteBuffer {
        var buffer = ByteBuffer()
        MQTTPacket.publish(PublishPacket(topic: topic, payload: ByteBuffer(string: payload))).encode(into: &buffer, version: .v3_1_1)
        return buffer
    }

    private func topics(_ parser: inout MQTTPacketParser, _ buffer: inout ByteBuffer) throws -> [String] {
        var topics: [String] = []
        while let packet = try parser.parse(&buffer) {
            guard case .publish(let publish) = packet else { continue }
            topics.append(publish.topic)
        }
        return topics
    }

    @Test func sameTopicAgainAndOthers() throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer()
        for topic in ["a/b", "a/b", "a/c", "a/b", "a/bb", "a/b", "é/ü", "é/ü"] {
            var one = publish(topic)
            buffer.writeBuffer(&one)
        }
        #expect(try topics(&parser, &buffer) == ["a/b", "a/b", "a/c", "a/b", "a/bb", "a/b", "é/ü", "é/ü"])
    }

    /// A topic with a wildcard is refused even right after a valid one of the same length.
    @Test func invalidTopicAfterAValidOneIsStillRefused() throws {
        var parser = MQTTPacketParser()
        var buffer = publish("a/b")
        #expect(try topics(&parser, &buffer) == ["a/b"])
        var bad = publish("a/+")
        #expect(throws: MQTTDecodeError.invalidTopicName("a/+")) { _ = try parser.parse(&bad) }
    }
}
