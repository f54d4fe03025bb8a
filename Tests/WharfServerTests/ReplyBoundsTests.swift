import Logging
import NIOCore
import NIOEmbedded
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// Replies that quote what a client sent stay within what a string field
/// and the client's Maximum Packet Size can hold (issue 12: a 65,535-byte
/// filter quoted in a reason string stopped the process).
@Suite struct ReplyBoundsTests {
    let counters = BrokerCounters()
    let broker: Broker

    init() {
        broker = Broker(limits: BrokerLimits(), metrics: counters)
    }

    private func channel(limiter: ConnectionLimiter = ConnectionLimiter(maximum: 10), retainedSliceNanos: UInt64? = nil) throws
        -> EmbeddedChannel
    {
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: 1 << 20)))
        try pipeline.addHandler(KeepAliveHandler(timeout: .seconds(10), resetByPackets: false), name: BrokerServer.keepAliveHandlerName)
        try pipeline.addHandler(
            MQTTConnectionHandler(
                broker: broker, limiter: limiter,
                retainedSliceNanos: retainedSliceNanos ?? MQTTConnectionHandler.defaultRetainedSliceNanos, logger: Logger(label: "test")
            ))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func send(_ channel: EmbeddedChannel, _ packet: MQTTPacket) throws {
        var buffer = ByteBuffer()
        packet.encode(into: &buffer, version: .v5)
        try channel.writeInbound(buffer)
    }

    /// What the server wrote, as a 5.0 client parses it, with each packet's size.
    private func received(_ channel: EmbeddedChannel) throws -> [(packet: MQTTPacket, size: Int)] {
        var parser = MQTTPacketParser(version: .v5, asClient: true)
        var all = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&chunk) }
        var packets: [(MQTTPacket, Int)] = []
        while true {
            let before = all.readableBytes
            guard let packet = try parser.parse(&all) else { break }
            packets.append((packet, before - all.readableBytes))
        }
        return packets
    }

    private func connect(_ channel: EmbeddedChannel, maximumPacketSize: UInt32? = nil) throws {
        var properties = MQTTProperties()
        if let maximumPacketSize { properties.append(.maximumPacketSize, .fourByteInteger(maximumPacketSize)) }
        try send(channel, .connect(ConnectPacket(version: .v5, clientId: "c", properties: properties)))
        let replies = try received(channel)
        guard case .connack(let connack)? = replies.first?.packet else {
            Issue.record("no CONNACK: \(replies)")
            return
        }
        #expect(connack.returnCode == .accepted)
    }

    private func reasonString(_ properties: MQTTProperties) -> String? { properties.string(.reasonString) }

    /// A 65,535-byte invalid filter: SUBACK 0x8F whose reason quotes only its start.
    @Test func hugeInvalidFilterIsQuotedAsAnExcerpt() throws {
        let channel = try channel()
        try connect(channel)
        let filter = "#/" + String(repeating: "a", count: 65_533)
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: filter, qos: .atLeastOnce)])))
        let replies = try received(channel)
        guard case .suback(let suback)? = replies.first?.packet else {
            Issue.record("no SUBACK: \(replies)")
            return
        }
        #expect(suback.returnCodes.map(\.rawValue) == [0x8F])
        let reason = try #require(reasonString(suback.properties))
        #expect(reason.utf8.count <= ReasonString.maxBytes)
        #expect(reason.contains("65535 bytes"))
        #expect(channel.isActive)
    }

    /// Thousands of invalid filters: the reason names a few and counts the rest.
    @Test func manyInvalidFiltersAreCounted() throws {
        let channel = try channel()
        try connect(channel)
        let filters = (0..<8_000).map { SubscribePacket.Subscription(filter: "a/#/b\($0)", qos: .atMostOnce) }
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: filters)))
        let replies = try received(channel)
        guard case .suback(let suback)? = replies.first?.packet else {
            Issue.record("no SUBACK")
            return
        }
        #expect(suback.returnCodes.count == 8_000 && suback.returnCodes.allSatisfy { $0.rawValue >= 0x80 })
        let reason = try #require(reasonString(suback.properties))
        #expect(reason.utf8.count <= ReasonString.maxBytes && reason.contains("more"))
    }

    /// Filters past the per-SUBSCRIBE cap get 0x97, and the reason says so
    /// rather than calling them invalid.
    @Test func filtersOverTheCapAreNamedAsSuch() throws {
        let channel = try channel()
        try connect(channel)
        let cap = BrokerLimits().maxFiltersPerSubscribe
        let filters =
            (0..<(cap + 5)).map { SubscribePacket.Subscription(filter: "t/\($0)", qos: .atMostOnce) }
            + [.init(filter: "bad/#/x", qos: .atMostOnce)]
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: filters)))
        guard case .suback(let suback)? = try received(channel).first?.packet else {
            Issue.record("no SUBACK")
            return
        }
        #expect(suback.returnCodes.prefix(cap).allSatisfy { $0.grantedQoS == .atMostOnce })
        #expect(suback.returnCodes.dropFirst(cap).allSatisfy { $0 == .quotaExceeded })
        let reason = try #require(reasonString(suback.properties))
        #expect(reason.contains("6 over the limit of \(cap) filters per SUBSCRIBE"), "\(reason)")
        #expect(!reason.contains("invalid"))
    }

    /// A client whose Maximum Packet Size the reason string would pass gets
    /// the SUBACK without it (5.0 section 3.9.2.1.2).
    @Test func reasonStringShedToFitMaximumPacketSize() throws {
        let channel = try channel()
        try connect(channel, maximumPacketSize: 64)
        let filter = "#/" + String(repeating: "a", count: 200)
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: filter, qos: .atLeastOnce)])))
        let replies = try received(channel)
        guard case .suback(let suback)? = replies.first?.packet else {
            Issue.record("no SUBACK: \(replies)")
            return
        }
        #expect(suback.returnCodes.map(\.rawValue) == [0x8F])
        #expect(suback.properties.isEmpty)
        #expect(replies.allSatisfy { $0.size <= 64 })
        #expect(channel.isActive)
    }

    /// A reply that cannot fit even without diagnostics is not sent: the
    /// connection is closed with 0x95, which does fit.
    @Test func replyTooLargeForTheClientCloses() throws {
        let channel = try channel()
        try connect(channel, maximumPacketSize: 64)
        let filters = (0..<100).map { SubscribePacket.Subscription(filter: "t/\($0)", qos: .atMostOnce) }
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: filters)))
        let replies = try received(channel)
        #expect(replies.allSatisfy { $0.size <= 64 })
        guard case .disconnect(let disconnect)? = replies.last?.packet else {
            Issue.record("no DISCONNECT: \(replies.map(\.packet.type))")
            return
        }
        #expect(disconnect.reasonCode == ReasonCode.packetTooLarge)
        #expect(!channel.isActive)
        #expect(counters.serverCloses(.replyTooLarge) == 1)
    }

    /// A 65,535-byte shared filter with no-local: DISCONNECT 0x82, quoting an excerpt.
    @Test func hugeSharedNoLocalFilterDisconnects() throws {
        let channel = try channel()
        try connect(channel)
        let filter = "$share/g/" + String(repeating: "a", count: 65_526)
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: filter, qos: .atMostOnce, noLocal: true)])))
        let replies = try received(channel)
        guard case .disconnect(let disconnect)? = replies.last?.packet else {
            Issue.record("no DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == ReasonCode.protocolError)
        #expect((reasonString(disconnect.properties)?.utf8.count ?? 0) <= ReasonString.maxBytes)
        #expect(!channel.isActive)
    }

    /// A 65,500-byte authentication method: CONNACK 0x8C, its reason bounded.
    @Test func hugeAuthenticationMethodIsRefused() throws {
        let channel = try channel()
        var properties = MQTTProperties()
        properties.append(.authenticationMethod, .string(String(repeating: "m", count: 65_500)))
        try send(channel, .connect(ConnectPacket(version: .v5, clientId: "c", properties: properties)))
        let replies = try received(channel)
        guard case .connack(let connack)? = replies.first?.packet else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connack.returnCode.rawValue == ReasonCode.badAuthenticationMethod)
        #expect((reasonString(connack.properties)?.utf8.count ?? 0) <= ReasonString.maxBytes)
        #expect(!channel.isActive)
    }

    /// Request Response Information with a client id so long that the
    /// response topic would not fit a string field: accepted, without it.
    @Test func responseInformationLeftOutForAHugeClientId() throws {
        let channel = try channel()
        var properties = MQTTProperties()
        properties.append(.requestResponseInformation, .byte(1))
        try send(channel, .connect(ConnectPacket(version: .v5, clientId: String(repeating: "c", count: 65_530), properties: properties)))
        let replies = try received(channel)
        guard case .connack(let connack)? = replies.first?.packet else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connack.returnCode == .accepted)
        #expect(!connack.properties.contains(.responseInformation))
    }

    /// Sockets that never send CONNECT fill only the pending allowance: past
    /// it a new socket closes the oldest silent one, so a client that does
    /// send CONNECT always gets in, and `max_connections` counts clients only.
    @Test func silentSocketsCannotFillMaxConnections() throws {
        let limiter = ConnectionLimiter(maximum: 3, maximumPending: 2)
        let silent = try (0..<5).map { _ in try channel(limiter: limiter) }
        #expect(silent.map(\.isActive) == [false, false, false, true, true])
        #expect(counters.rejections(.maxPendingConnections) == 3)
        #expect(limiter.pendingCount == 2)
        let client = try channel(limiter: limiter)
        #expect(!silent[3].isActive, "the oldest silent socket made room")
        try connect(client)
        #expect(client.isActive && limiter.pendingCount == 1)
        // Closing frees what a socket held: the pending one its slot, the client its connection.
        _ = try silent[4].close().wait()
        _ = try client.close().wait()
        #expect(limiter.pendingCount == 0)
        for id in ["a", "b", "c"] {
            let next = try channel(limiter: limiter)
            try send(next, .connect(ConnectPacket(version: .v5, clientId: id)))
            _ = try received(next)
            #expect(next.isActive, "room for max_connections clients")
        }
    }

    // MARK: Retained messages owed, delivered in slices

    private func retain(_ topics: [String]) {
        for topic in topics {
            broker.publish(Message(topic: topic, payload: ByteBuffer(string: "r"), qos: .atLeastOnce, retain: true))
        }
    }

    private func publishes(_ channel: EmbeddedChannel) throws -> [String] {
        try received(channel).compactMap { if case .publish(let p) = $0.packet { return p.topic } else { return nil } }
    }

    /// With a slice of one filter, the first turn serves the first filter and
    /// later turns the rest; an UNSUBSCRIBE in between ends what its filters
    /// were owed (nothing more may be added for them, 3.10.4).
    @Test func unsubscribeEndsWhatItsFiltersWereOwed() throws {
        retain(["r/1", "r/2", "r/3"])
        let channel = try channel(retainedSliceNanos: 0)
        try connect(channel)
        let filters = ["r/1", "r/2", "r/3"].map { SubscribePacket.Subscription(filter: $0, qos: .atMostOnce) }
        try send(channel, .subscribe(SubscribePacket(packetId: 1, subscriptions: filters)))
        channel.embeddedEventLoop.run()
        #expect(try publishes(channel) == ["r/1"])
        try send(channel, .unsubscribe(UnsubscribePacket(packetId: 2, filters: ["r/2", "r/3"])))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try publishes(channel).isEmpty)
    }

    /// A persistent session whose connection ends with retained messages
    /// still owed gets them in its queue, and its next connection receives them.
    @Test func persistentSessionKeepsWhatItWasOwed() throws {
        retain(["p/1", "p/2", "p/3"])
        let first = try channel(retainedSliceNanos: 0)
        var properties = MQTTProperties()
        properties.append(.sessionExpiryInterval, .fourByteInteger(60))
        try send(first, .connect(ConnectPacket(version: .v5, clientId: "owed", cleanSession: false, properties: properties)))
        _ = try received(first)
        let filters = ["p/1", "p/2", "p/3"].map { SubscribePacket.Subscription(filter: $0, qos: .atLeastOnce) }
        try send(first, .subscribe(SubscribePacket(packetId: 1, subscriptions: filters)))
        first.embeddedEventLoop.run()
        #expect(try publishes(first) == ["p/1"])
        _ = try first.close().wait()
        let second = try channel()
        try send(second, .connect(ConnectPacket(version: .v5, clientId: "owed", cleanSession: false, properties: properties)))
        second.embeddedEventLoop.run()
        let topics = try publishes(second)
        #expect(topics.sorted() == ["p/1", "p/2", "p/3"], "p/1 again (unacknowledged), then what was owed")
    }
}
