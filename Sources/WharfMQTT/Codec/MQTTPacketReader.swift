import NIOCore

/// The packets one socket read held, in order.
public struct InboundPacketBatch: Sendable {
    public var packets: [InboundPacket]

    public init(_ packets: [InboundPacket]) {
        self.packets = packets
    }
}

/// The server's decoder: like `MQTTPacketDecoder` (the same
/// `MQTTPacketParser` inside), but it passes on everything one read held as
/// one batch. A packet per `channelRead` cost, per packet, a boxed existential
/// in `NIOAny`, a dynamic cast out of it, copies of the packet and a trip
/// through each handler: about 2,500 instructions, a fifth of a small QoS 0
/// publish (docs/performance.md). Clients (demo, bench) keep the per-packet
/// decoder.
///
/// As with NIO's `ByteToMessageHandler`: the bytes of an incomplete packet
/// wait for the next read (never more than the parser's `maxPacketSize`,
/// which it checks as soon as a packet's length is known); a malformed packet
/// fires the packets before it, then the error, and every later byte is
/// ignored; an incomplete packet at the end of the stream is dropped.
public final class MQTTPacketReader: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = InboundPacketBatch

    private var parser: MQTTPacketParser
    /// Bytes of a packet not yet whole.
    private var pending: ByteBuffer?
    private var failed = false
    /// The batch array, reused: it is unique again once the batch is handled.
    private var scratch: [InboundPacket] = []
    /// Read position past which the pending buffer is compacted.
    private static let reclaimThreshold = 4096

    public init(parser: MQTTPacketParser) {
        self.parser = parser
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var buffer = unwrapInboundIn(data)
        if var waiting = pending {
            pending = nil
            waiting.writeBuffer(&buffer)
            buffer = waiting
        }
        var packets = scratch
        scratch = []
        defer {
            packets.removeAll(keepingCapacity: true)
            scratch = packets
        }
        var failure: MQTTDecodeError?
        do {
            while let packet = try parser.parse(&buffer) {
                packets.append(InboundPacket(packet: packet, wireSize: parser.lastPacketSize))
            }
        } catch {
            failure = error
        }
        if failure == nil, buffer.readableBytes > 0 {
            if buffer.readerIndex > Self.reclaimThreshold { buffer.discardReadBytes() }
            pending = buffer
        }
        if !packets.isEmpty { context.fireChannelRead(wrapInboundOut(InboundPacketBatch(packets))) }
        if let failure {
            failed = true
            context.fireErrorCaught(failure)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }
}
