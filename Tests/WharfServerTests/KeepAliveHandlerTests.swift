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

    /// Silence expires the connection, unless the connection still holds
    /// packets the client sent (a cluster node slow to take them): then it
    /// waits, and expires within a timeout of no longer holding them.
    @Test func heldInputIsNotSilence() throws {
        var holding = true
        let counter = ExpiryCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(KeepAliveHandler(timeout: .seconds(3)) { holding })
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(counter.expired == 0, "ten seconds with input held")
        holding = false
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(3_100))
        #expect(counter.expired == 1, "silent for a timeout once nothing is held")
    }

    @Test func silenceExpiresWithoutHeldInput() throws {
        let counter = ExpiryCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(KeepAliveHandler(timeout: .seconds(3)) { false })
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(3_100))
        #expect(counter.expired == 1)
    }
}
