import NIOCore

/// A decoded packet and the bytes it took on the wire (for byte counters).
public struct InboundPacket: Sendable {
    public var packet: MQTTPacket
    public var wireSize: Int
}

/// Thin `ByteToMessageDecoder` around `MQTTPacketParser`. Every packet in a
/// read is decoded before `channelReadComplete`, which is where the server
/// flushes its replies: one flush per read batch.
public struct MQTTPacketDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundPacket

    public var parser: MQTTPacketParser

    public init(parser: MQTTPacketParser) {
        self.parser = parser
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(InboundPacket(packet: packet, wireSize: parser.lastPacketSize)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A half packet at EOF is simply dropped with the connection.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
