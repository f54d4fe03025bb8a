import Logging
import NIOCore
import NIOEmbedded
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// The connection handler driven through a real pipeline on an EmbeddedChannel.
@Suite struct ConnectionHandlerTests {
    let counters = BrokerCounters()
    let broker: Broker

    init() {
        var limits = BrokerLimits()
        limits.maxPacketSize = 1024
        broker = Broker(limits: limits, metrics: counters)
    }

    private func channel(maxConnections: Int = 10, authenticator: Authenticator = Authenticator()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(MQTTPacketReader(parser: MQTTPacketParser(maxPacketSize: 1024)))
        try pipeline.addHandler(KeepAliveHandler(timeout: .seconds(10), resetByPackets: false), name: BrokerServer.keepAliveHandlerName)
        try pipeline.addHandler(
            MQTTConnectionHandler(
                broker: broker, limiter: ConnectionLimiter(maximum: maxConnections), authenticator: authenticator,
                logger: Logger(label: "test")
            ))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func send(_ channel: EmbeddedChannel, _ packets: MQTTPacket...) throws {
        var buffer = ByteBuffer()
        for packet in packets { packet.encode(into: &buffer, version: .v3_1_1) }
        try channel.writeInbound(buffer)
    }

    /// Everything the server wrote, parsed as a client would; also the number of writes.
    private func received(_ channel: EmbeddedChannel) throws -> (packets: [MQTTPacket], writes: Int) {
        var parser = MQTTPacketParser(asClient: true)
        var packets: [MQTTPacket] = []
        var writes = 0
        var all = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            writes += 1
            all.writeBuffer(&chunk)
        }
        while let packet = try parser.parse(&all) { packets.append(packet) }
        return (packets, writes)
    }

    private func connect(_ channel: EmbeddedChannel, id: String, clean: Bool = true, keepAlive: UInt16 = 60) throws {
        try send(channel, .connect(ConnectPacket(clientId: id, cleanSession: clean, keepAlive: keepAlive)))
        #expect(try received(channel).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .accepted))])
    }

    /// CONNECT is answered with CONNACK 0 and the session is registered.
    @Test func connectAccepted() throws {
        let channel = try channel()
        try connect(channel, id: "a")
        #expect(broker.sessionCount == 1)
        #expect(channel.isActive)
    }

    /// A first packet other than CONNECT closes the connection without a reply.
    @Test func firstPacketMustBeConnect() throws {
        let channel = try channel()
        try send(channel, .pingreq)
        #expect(!channel.isActive)
        #expect(try received(channel).packets.isEmpty)
        #expect(counters.serverCloses(.protocolError) == 1)
    }

    /// A second CONNECT is a protocol violation.
    @Test func secondConnectCloses() throws {
        let channel = try channel()
        try connect(channel, id: "a")
        try send(channel, .connect(ConnectPacket(clientId: "a")))
        #expect(!channel.isActive)
    }

    /// A malformed packet closes the connection, is counted, and its will is published.
    @Test func malformedPacketClosesAndCounts() throws {
        let watcher = try channel()
        try connect(watcher, id: "watcher")
        try send(watcher, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "will/#", qos: .atMostOnce)])))
        _ = try received(watcher)

        let channel = try channel()
        let will = ConnectPacket.Will(topic: "will/bad", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false)
        try send(channel, .connect(ConnectPacket(clientId: "bad", will: will)))
        _ = try received(channel)
        // PUBLISH with QoS 3 in its flags.
        try channel.writeInbound(ByteBuffer(bytes: [0x36, 0x03, 0x00, 0x01, 0x61]))
        #expect(!channel.isActive)
        #expect(counters.malformedPackets == 1)
        #expect(counters.serverCloses(.malformedPacket) == 1)
        watcher.embeddedEventLoop.run()
        let delivered = try received(watcher).packets
        #expect(delivered.count == 1)
        if case .publish(let publish) = delivered.first {
            #expect(publish.topic == "will/bad" && String(buffer: publish.payload) == "gone")
        }
    }

    /// An unsupported protocol level gets CONNACK 1, then the connection closes.
    @Test func unsupportedProtocolLevel() throws {
        let channel = try channel()
        // CONNECT "MQTT" level 2 (no such version), clean session, keep-alive 60, client id "x".
        try channel.writeInbound(
            ByteBuffer(bytes: [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x02, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x78]))
        #expect(try received(channel).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .unacceptableProtocolVersion))])
        #expect(!channel.isActive)
        #expect(counters.rejections(.unsupportedProtocol) == 1)
    }

    /// Beyond max connections, CONNACK 3 (server unavailable).
    @Test func connectionLimit() throws {
        let channel = try channel(maxConnections: 0)
        try send(channel, .connect(ConnectPacket(clientId: "a")))
        #expect(try received(channel).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .serverUnavailable))])
        #expect(!channel.isActive)
        #expect(counters.rejections(.maxConnections) == 1)
    }

    /// Failed authentication gets CONNACK 4 or 5, is counted, and opens no session.
    @Test func authenticationRefusals() throws {
        let auth = Authenticator(allowAnonymous: false, passwords: try PasswordFile(text: AuthenticatorTests.file, file: "pw"))
        let anonymous = try channel(authenticator: auth)
        try send(anonymous, .connect(ConnectPacket(clientId: "a")))
        #expect(try received(anonymous).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .notAuthorized))])
        let wrong = try channel(authenticator: auth)
        try send(wrong, .connect(ConnectPacket(clientId: "b", username: "alice", password: ByteBuffer(string: "x"))))
        #expect(try received(wrong).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .badUsernameOrPassword))])
        #expect(!anonymous.isActive && !wrong.isActive)
        #expect(counters.rejections(.notAuthorized) == 1 && counters.rejections(.wrongPassword) == 1)
        #expect(broker.sessionCount == 0)
        let right = try channel(authenticator: auth)
        try send(right, .connect(ConnectPacket(clientId: "c", username: "alice", password: ByteBuffer(string: "s3cret"))))
        #expect(try received(right).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .accepted))])
    }

    /// Empty client id: assigned with clean session, rejected (code 2) without.
    @Test func emptyClientId() throws {
        let clean = try channel()
        try connect(clean, id: "")
        let persistent = try channel()
        try send(persistent, .connect(ConnectPacket(clientId: "", cleanSession: false)))
        #expect(try received(persistent).packets == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .identifierRejected))])
    }

    /// Silence for 1.5 x keep-alive closes the connection; a PINGREQ in time keeps it.
    @Test func keepAliveTimeout() throws {
        let channel = try channel()
        try connect(channel, id: "k", keepAlive: 2)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2900))
        try send(channel, .pingreq)
        #expect(try received(channel).packets == [.pingresp])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2900))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(!channel.isActive)
        #expect(counters.serverCloses(.keepAliveTimeout) == 1)
    }

    /// Bytes of a packet that never completes do not keep a connection alive.
    @Test func partialPacketsDoNotCountAsActivity() throws {
        let channel = try channel()
        try connect(channel, id: "slow", keepAlive: 2)
        var pending = ByteBuffer()
        MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "xyz"))).encode(into: &pending, version: .v3_1_1)
        for _ in 0..<5 {  // one byte every 500 ms, never the whole packet
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            guard channel.isActive, let byte = pending.readSlice(length: 1) else { break }
            try channel.writeInbound(byte)
        }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        #expect(!channel.isActive)
        #expect(counters.serverCloses(.keepAliveTimeout) == 1)
    }

    /// The connect timeout counts from the start: trickled bytes do not extend it.
    @Test func connectTimeoutIsAbsolute() throws {
        let channel = try channel()
        var connect = ByteBuffer()
        MQTTPacket.connect(ConnectPacket(clientId: "late")).encode(into: &connect, version: .v3_1_1)
        for _ in 0..<9 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            if let byte = connect.readSlice(length: 1) { try channel.writeInbound(byte) }
        }
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(counters.serverCloses(.connectTimeout) == 1)
    }

    /// A connection that never sends CONNECT is closed after the connect timeout.
    @Test func connectTimeout() throws {
        let channel = try channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(counters.serverCloses(.connectTimeout) == 1)
    }

    /// A burst of publishes reaches the subscriber in one write: one flush per batch, not per message.
    @Test func deliveriesAreBatched() throws {
        let subscriber = try channel()
        try connect(subscriber, id: "sub")
        try send(subscriber, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "t", qos: .atMostOnce)])))
        #expect(
            try received(subscriber).packets == [
                .suback(SubAckPacket(packetId: 1, returnCodes: [SubscribeReturnCode(granted: .atMostOnce)]))
            ])

        let publisher = try channel()
        try connect(publisher, id: "pub")
        var burst = ByteBuffer()
        for i in 0..<100 {
            MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "\(i)"))).encode(into: &burst, version: .v3_1_1)
        }
        try publisher.writeInbound(burst)
        subscriber.embeddedEventLoop.run()
        let (packets, writes) = try received(subscriber)
        #expect(packets.count == 100)
        #expect(writes == 1)
        let payloads = packets.compactMap { packet -> String? in
            if case .publish(let publish) = packet { return String(buffer: publish.payload) }
            return nil
        }
        #expect(payloads == (0..<100).map(String.init))
    }

    /// QoS 1 and 2 from the client are acknowledged; a resent QoS 2 PUBLISH is not routed twice.
    @Test func inboundAcknowledgements() throws {
        let subscriber = try channel()
        try connect(subscriber, id: "sub")
        try send(subscriber, .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "t", qos: .exactlyOnce)])))
        _ = try received(subscriber)

        let publisher = try channel()
        try connect(publisher, id: "pub")
        let payload = ByteBuffer(string: "once")
        try send(publisher, .publish(PublishPacket(topic: "t", payload: payload, qos: .atLeastOnce, packetId: 7)))
        try send(publisher, .publish(PublishPacket(topic: "t", payload: payload, qos: .exactlyOnce, packetId: 8)))
        try send(publisher, .publish(PublishPacket(topic: "t", payload: payload, qos: .exactlyOnce, dup: true, packetId: 8)))
        try send(publisher, .pubrel(PublishAckPacket(packetId: 8)))
        #expect(
            try received(publisher).packets == [
                .puback(PublishAckPacket(packetId: 7)), .pubrec(PublishAckPacket(packetId: 8)),
                .pubrec(PublishAckPacket(packetId: 8)), .pubcomp(PublishAckPacket(packetId: 8)),
            ])
        subscriber.embeddedEventLoop.run()
        #expect(try received(subscriber).packets.count == 2)
        #expect(counters.messagesReceived == 2)
    }
}
