import NIOCore
import Testing
import WharfTestSupport

@testable import WharfMQTT

/// However the bytes are split across reads, the same packets come out.
@Suite struct DripFeedTests {
    /// Feeds `all` in chunks of the given sizes, parsing after each; returns the packets and their wire sizes.
    private func feed(
        _ all: ByteBuffer, chunks sizes: some Sequence<Int>, asClient: Bool = false
    ) throws -> (packets: [MQTTPacket], sizes: [Int]) {
        var parser = MQTTPacketParser(maxPacketSize: 1 << 20, asClient: asClient)
        var pending = ByteBuffer()
        var source = all
        var packets: [MQTTPacket] = []
        var wireSizes: [Int] = []
        var sizeIterator = sizes.makeIterator()
        while source.readableBytes > 0 {
            let size = min(source.readableBytes, max(1, sizeIterator.next() ?? 1))
            var chunk = source.readSlice(length: size)!
            pending.writeBuffer(&chunk)
            while let packet = try parser.parse(&pending) {
                packets.append(packet)
                wireSizes.append(parser.lastPacketSize)
            }
        }
        #expect(pending.readableBytes == 0, "no bytes left over")
        return (packets, wireSizes)
    }

    private func wireSizes(_ packets: [MQTTPacket]) -> [Int] {
        packets.map { wire([$0]).readableBytes }
    }

    /// One byte at a time, server-bound and client-bound, with the right wire size for each packet.
    @Test func oneByteAtATime() throws {
        let server = try feed(wire(serverBoundSamples), chunks: repeatElement(1, count: .max))
        #expect(server.packets == serverBoundSamples)
        #expect(server.sizes == wireSizes(serverBoundSamples))
        let client = try feed(wire(clientBoundSamples), chunks: repeatElement(1, count: .max), asClient: true)
        #expect(client.packets == clientBoundSamples)
        #expect(client.sizes == wireSizes(clientBoundSamples))
    }

    /// All packets in one buffer.
    @Test func allAtOnce() throws {
        #expect(try feed(wire(serverBoundSamples), chunks: [Int.max]).packets == serverBoundSamples)
        #expect(try feed(wire(clientBoundSamples), chunks: [Int.max], asClient: true).packets == clientBoundSamples)
    }

    /// Random split points (seeded, so a failure is reproducible).
    @Test(arguments: [1, 2, 3, 42, 1234] as [UInt64])
    func randomSplits(seed: UInt64) throws {
        var rng = FuzzRandom(seed: seed)
        let sizes = (0..<100_000).map { _ in Int(rng.next() % 97) + 1 }
        let packets = serverBoundSamples + serverBoundSamples
        #expect(try feed(wire(packets), chunks: sizes).packets == packets)
        #expect(try feed(wire(clientBoundSamples), chunks: sizes, asClient: true).packets == clientBoundSamples)
    }

    /// A long random stream of small packets, split at random points, comes out identical.
    @Test(arguments: [7, 99] as [UInt64])
    func longRandomStream(seed: UInt64) throws {
        var rng = FuzzRandom(seed: seed)
        let packets = (0..<2_000).map { _ in randomPacket(&rng) }
        let sizes = (0..<200_000).map { _ in Int(rng.next() % 13) + 1 }
        let result = try feed(wire(packets), chunks: sizes)
        #expect(result.packets == packets)
        #expect(result.sizes == wireSizes(packets))
    }

    /// Splitting inside a multi-byte remaining length (a 70 000-byte PUBLISH) at every header offset.
    @Test func splitInsideRemainingLength() throws {
        let big = MQTTPacket.publish(PublishPacket(topic: "big", payload: ByteBuffer(repeating: 1, count: 70_000)))
        for first in 1...6 {
            #expect(try feed(wire([big, .pingreq]), chunks: [first, Int.max]).packets == [big, .pingreq])
        }
    }

    /// A partial header or body is "need more data", never an error, and consumes nothing.
    @Test func partialIsNotAnError() throws {
        var parser = MQTTPacketParser()
        for partial in [[0x30], [0x30, 0x80], [0x30, 0x05, 0x00], [0x10], [0x82, 0x06, 0x00, 0x01]] as [[UInt8]] {
            var buffer = ByteBuffer(bytes: partial)
            #expect(try parser.parse(&buffer) == nil)
            #expect(buffer.readableBytes == partial.count, "nothing consumed until the packet is whole")
        }
    }

    /// The parser reads from the buffer's reader index, not from offset 0.
    @Test func honoursReaderIndex() throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF])
        buffer.moveReaderIndex(forwardBy: 3)
        buffer.writeBytes([0xC0, 0x00, 0x40, 0x02, 0x00])
        #expect(try parser.parse(&buffer) == .pingreq)
        #expect(try parser.parse(&buffer) == nil)
        buffer.writeBytes([0x07])
        #expect(try parser.parse(&buffer) == .puback(PublishAckPacket(packetId: 7)))
    }

    /// Packets before a malformed one are delivered; the error comes when the bad packet is whole.
    @Test func errorAfterGoodPacketsWhenDripped() throws {
        var parser = MQTTPacketParser()
        var stream = wire([.connect(ConnectPacket(clientId: "c")), .pingreq])
        stream.writeBytes([0x40, 0x02, 0x00, 0x00])  // PUBACK with packet identifier 0
        var pending = ByteBuffer()
        var good: [MQTTPacket] = []
        var failure: MQTTDecodeError?
        var fedWhenFailed = 0
        while failure == nil, let byte = stream.readInteger(as: UInt8.self) {
            pending.writeInteger(byte)
            do {
                while let packet = try parser.parse(&pending) { good.append(packet) }
            } catch {
                failure = error
                fedWhenFailed = stream.readerIndex
            }
        }
        #expect(good == [.connect(ConnectPacket(clientId: "c")), .pingreq])
        #expect(failure == .zeroPacketIdentifier)
        #expect(fedWhenFailed == stream.writerIndex, "raised on the last byte of the bad packet")
    }
}

/// A small random server-bound packet.
func randomPacket(_ rng: inout FuzzRandom) -> MQTTPacket {
    let id = UInt16(rng.next() % 65_535) + 1
    let qos = QoS(rawValue: UInt8(rng.next() % 3))!
    let topic = "t/\(rng.next() % 100)/\(String(repeating: "x", count: Int(rng.next() % 200)))"
    switch rng.next() % 9 {
    case 0:
        return .publish(
            PublishPacket(
                topic: topic, payload: ByteBuffer(repeating: UInt8(rng.next() & 0xFF), count: Int(rng.next() % 300)),
                qos: qos, retain: rng.next() % 2 == 0, dup: qos != .atMostOnce && rng.next() % 2 == 0,
                packetId: qos == .atMostOnce ? nil : id
            ))
    case 1: return .puback(PublishAckPacket(packetId: id))
    case 2: return .pubrec(PublishAckPacket(packetId: id))
    case 3: return .pubrel(PublishAckPacket(packetId: id))
    case 4: return .pubcomp(PublishAckPacket(packetId: id))
    case 5:
        return .subscribe(
            SubscribePacket(packetId: id, subscriptions: [.init(filter: topic, qos: qos), .init(filter: "#", qos: .atMostOnce)]))
    case 6: return .unsubscribe(UnsubscribePacket(packetId: id, filters: [topic]))
    case 7: return .pingreq
    default: return .publish(PublishPacket(topic: topic, payload: ByteBuffer(string: "p")))
    }
}
