import Logging
import NIOCore
import NIOEmbedded
import WharfCore
import WharfMQTT

@testable import WharfServer

/// A client connection on an `EmbeddedChannel` through the server's real
/// pipeline (packet reader, connection handler): what the handler tests
/// that drive whole exchanges share.
struct EmbeddedConnection {
    let channel: EmbeddedChannel

    init(broker: Broker) throws {
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: 1 << 16)))
        try channel.pipeline.syncOperations.addHandler(
            MQTTConnectionHandler(broker: broker, limiter: ConnectionLimiter(maximum: 10), logger: Logger(label: "test"))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    /// One read of `packets` (the handler flushes once at its end).
    func send(_ packets: [MQTTPacket]) throws {
        var buffer = ByteBuffer()
        for packet in packets { packet.encode(into: &buffer, version: .v3_1_1) }
        try channel.writeInbound(buffer)
    }

    func send(_ packets: MQTTPacket...) throws { try send(packets) }

    /// Everything written since the last call, parsed as a client would.
    func received() throws -> [MQTTPacket] {
        var parser = MQTTPacketParser(asClient: true)
        var all = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&chunk) }
        var packets: [MQTTPacket] = []
        while let packet = try parser.parse(&all) { packets.append(packet) }
        return packets
    }

    /// Runs what was handed to the connection's loop (deliveries, resumes, commits).
    func runLoop() { channel.embeddedEventLoop.run() }

    var handler: MQTTConnectionHandler {
        get throws { try channel.pipeline.syncOperations.handler(type: MQTTConnectionHandler.self) }
    }

    var isActive: Bool { channel.isActive }
}
