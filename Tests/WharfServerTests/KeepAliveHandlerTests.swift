import NIOCore
import NIOEmbedded
import Testing
import WharfMQTT

@testable import WharfServer

/// The keep-alive timer on an embedded event loop's virtual time.
@Suite struct KeepAliveHandlerTests {
    /// Counts the expiries the handler fires down the pipeline.
    final class ExpiryCounter: ChannelInboundHandler {
        typealias InboundIn = InboundPacketBatch
        var expired = 0

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is KeepAliveHandler.Expired { expired += 1 }
        }
    }

    /// A connected channel with the handler (3 s) and a counter after it.
    static func connected(isHoldingInput: @escaping () -> Bool) throws -> (EmbeddedChannel, ExpiryCounter) {
        let counter = ExpiryCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(KeepAliveHandler(timeout: .seconds(3), isHoldingInput: isHoldingInput))
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        return (channel, counter)
    }

    /// Silence expires the connection, unless the connection still holds
    /// packets the client sent (a cluster node slow to take them): then it
    /// waits, and expires within a timeout of no longer holding them.
    @Test func heldInputIsNotSilence() throws {
        var holding = true
        let (channel, counter) = try Self.connected { holding }
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(counter.expired == 0, "ten seconds with input held")
        holding = false
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(3_100))
        #expect(counter.expired == 1, "silent for a timeout once nothing is held")
    }

    @Test func silenceExpiresWithoutHeldInput() throws {
        let (channel, counter) = try Self.connected { false }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(3_100))
        #expect(counter.expired == 1)
    }
}
