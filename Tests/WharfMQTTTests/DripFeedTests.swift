import NIOCore
import Testing
@testable import WharfMQTT

/// However the bytes are split across reads, the same packets come out.
@Suite struct DripFeedTests {
    private func feed(_ all: ByteBuffer, chunks sizes: some Sequence<Int>, asClient: Bool = false) throws -> [MQTTPacket] {
        var parser = MQTTPacketParser(asClient: asClient)
        var pending = ByteBuffer()
        var source = all
        var packets: [MQTTPacket] = []
        var sizeIterator = sizes.makeIterator()
        while source.readableBytes > 0 {
            let size = min(source.readableBytes, max(1, sizeIterator.next() ?? 1))
            var chunk = source.readSlice(length: size)!
            pending.writeBuffer(&chunk)
            while let packet = try parser.parse(&pending) { packets.append(packet) }
        }
        #expect(pending.readableBytes == 0)
        return packets
    }

    /// One byte at a time.
    @Test func oneByteAtATime() throws {
        #expect(try feed(wire(serverBoundSamples), chunks: repeatElement(1, count: .max)) == serverBoundSamples)
        #expect(try feed(wire(clientBoundSamples), chunks: repeatElement(1, count: .max), asClient: true) == clientBoundSamples)
    }

    /// All packets in one buffer.
    @Test func allAtOnce() throws {
        #expect(try feed(wire(serverBoundSamples), chunks: [Int.max]) == serverBoundSamples)
    }

    /// Random split points (seeded, so a failure is reproducible).
    @Test(arguments: [1, 2, 3, 42, 1234])
    func randomSplits(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let sizes = (0..<100_000).map { _ in Int(rng.next() % 97) + 1 }
        #expect(try feed(wire(serverBoundSamples + serverBoundSamples), chunks: sizes) == serverBoundSamples + serverBoundSamples)
    }

    /// A partial header or body is "need more data", never an error.
    @Test func partialIsNotAnError() throws {
        var parser = MQTTPacketParser()
        var buffer = ByteBuffer(bytes: [0x30])
        #expect(try parser.parse(&buffer) == nil)
        buffer = ByteBuffer(bytes: [0x30, 0x80])
        #expect(try parser.parse(&buffer) == nil)
        buffer = ByteBuffer(bytes: [0x30, 0x05, 0x00])
        #expect(try parser.parse(&buffer) == nil)
        #expect(buffer.readableBytes == 3, "nothing consumed until the packet is whole")
    }
}

/// A tiny deterministic generator for reproducible split points.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
