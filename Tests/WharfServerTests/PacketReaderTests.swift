import NIOCore
import NIOEmbedded
import Testing
import WharfMQTT

/// `MQTTPacketReader`: one batch per read, incomplete packets carried over,
/// nothing after a malformed packet.
@Suite struct PacketReaderTests {
    /// Records the batches and the errors that reach it.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = InboundPacketBatch
        var batches: [[MQTTPacket]] = []
        var sizes: [Int] = []
        var errors: [any Error] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let batch = unwrapInboundIn(data)
            batches.append(batch.packets.map(\.packet))
            sizes += batch.packets.map(\.wireSize)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            errors.append(error)
        }
    }

    private func channel(maxPacketSize: Int = 1024) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: maxPacketSize)))
        try channel.pipeline.syncOperations.addHandler(recorder)
        return (channel, recorder)
    }

    private func bytes(_ packets: MQTTPacket...) -> ByteBuffer {
        var buffer = ByteBuffer()
        for packet in packets { packet.encode(into: &buffer, version: .v3_1_1) }
        return buffer
    }

    /// Two whole packets and half of a third: a batch of two; the rest of the
    /// third completes it in the next read, as a batch of one.
    @Test func wholePacketsPerReadAndTheRestCarriedOver() throws {
        let (channel, recorder) = try channel()
        let publish = MQTTPacket.publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hello"), qos: .atMostOnce))
        var all = bytes(.connect(ConnectPacket(clientId: "c", cleanSession: true, keepAlive: 60)), .pingreq, publish)
        let cut = all.readableBytes - 4
        try channel.writeInbound(all.readSlice(length: cut)!)
        #expect(recorder.batches.count == 1)
        #expect(recorder.batches.first?.count == 2)
        try channel.writeInbound(all)
        #expect(recorder.batches.count == 2)
        #expect(recorder.batches.last == [publish])
        #expect(recorder.sizes.reduce(0, +) == cut + 4, "every byte is counted in some packet's wire size")
        #expect(recorder.errors.isEmpty)
    }

    /// Byte by byte: one batch per completed packet, none before.
    @Test func dripFed() throws {
        let (channel, recorder) = try channel()
        var all = bytes(.connect(ConnectPacket(clientId: "drip", cleanSession: true, keepAlive: 60)), .pingreq)
        while let byte = all.readSlice(length: 1) { try channel.writeInbound(byte) }
        #expect(recorder.batches.map(\.count) == [1, 1])
    }

    /// A malformed packet: the packets before it go first, then the error;
    /// later bytes are ignored.
    @Test func malformedPacketEndsTheStream() throws {
        let (channel, recorder) = try channel()
        var buffer = bytes(.connect(ConnectPacket(clientId: "c", cleanSession: true, keepAlive: 60)), .pingreq)
        buffer.writeBytes([0x00, 0x00])  // packet type 0 is reserved
        try channel.writeInbound(buffer)
        #expect(recorder.batches.map(\.count) == [2])
        #expect(recorder.errors.count == 1)
        #expect((recorder.errors.first as? MQTTDecodeError) == .reservedPacketType(0))
        try channel.writeInbound(bytes(.pingreq))
        #expect(recorder.batches.count == 1, "nothing after the malformed packet")
    }

    /// A packet over the limit is refused from its header, before its body arrives.
    @Test func oversizedPacketRefusedFromItsHeader() throws {
        let (channel, recorder) = try channel(maxPacketSize: 64)
        var connect = bytes(.connect(ConnectPacket(clientId: "c", cleanSession: true, keepAlive: 60)))
        connect.writeBytes([0x30, 0xFF, 0x7F])  // PUBLISH declaring 16,383 bytes
        try channel.writeInbound(connect)
        #expect(recorder.batches.map(\.count) == [1])
        guard case .packetTooLarge? = recorder.errors.first as? MQTTDecodeError else {
            Issue.record("expected packetTooLarge, got \(recorder.errors)")
            return
        }
    }
}
