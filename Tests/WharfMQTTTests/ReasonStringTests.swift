import NIOCore
import Testing
import WharfMQTT

@Suite struct ReasonStringTests {
    /// Excerpts never split a character, and say how long the original was.
    @Test func excerptCutsAtAScalarBoundary() {
        let text = String(repeating: "é", count: 100)  // two bytes each
        let excerpt = ReasonString.excerpt(text, maxBytes: 7)
        #expect(excerpt == "ééé… (200 bytes)")
        #expect(ReasonString.excerpt("short") == "short")
        #expect(ReasonString.prefix(of: "a€b", maxBytes: 3) == "a")  // € is three bytes
    }

    /// A list names what fits and counts the rest.
    @Test func listCountsWhatDoesNotFit() {
        let items = (0..<1_000).map { "filter/\($0)" }
        let text = ReasonString.list(items, noun: "filters")
        #expect(text.utf8.count <= ReasonString.maxBytes)
        #expect(text.hasPrefix("filter/0, filter/1") && text.hasSuffix("more"))
        #expect(ReasonString.list(["a", "b"]) == "a, b")
        #expect(ReasonString.list([String(repeating: "x", count: 10_000)], noun: "filters", maxBytes: 10) == "1 filters")
    }

    /// A string field longer than two bytes can count is cut, never a trap,
    /// and the packet stays well-formed: its declared lengths match its bytes.
    @Test func overlongStringFieldIsCutNotTrapped() throws {
        var buffer = ByteBuffer()
        let written = buffer.writeMQTTString(String(repeating: "z", count: 70_000))
        #expect(written == 2 + 65_535)
        #expect(buffer.getInteger(at: 0, as: UInt16.self) == 65_535)
        // A reason string that long inside a DISCONNECT still parses.
        var properties = MQTTProperties()
        properties.append(.reasonString, .string(String(repeating: "r", count: 70_000)))
        var packet = ByteBuffer()
        MQTTPacket.disconnect(DisconnectPacket(reasonCode: 0x82, properties: properties)).encode(into: &packet, version: .v5)
        var parser = MQTTPacketParser(version: .v5, asClient: true)
        guard case .disconnect(let parsed)? = try parser.parse(&packet) else {
            Issue.record("not parsed back")
            return
        }
        #expect(parsed.properties.string(.reasonString)?.utf8.count == 65_535)
        #expect(packet.readableBytes == 0)
    }
}
