import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing
import WharfMQTT
import WharfStorage

@testable import WharfServer

/// The broker's services in one group, stopped as SIGTERM stops `wharf serve`.
@Suite(.serialized) struct GracefulShutdownTests {
    /// The MQTT listener stops first (a 5.0 client gets DISCONNECT 0x8B), the
    /// service in the metrics listener's place after it, the store last.
    @Test func listenerStopsFirstAndStoreClosesLast() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try BrokerServer(
            config: Self.config(directory: directory), group: group, logger: Logger(label: "test"), version: "test")
        let listener = MQTTListener(server: server)
        let probe = ShutdownProbe(listener: listener.port, storeDirectory: directory)
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: server.services(listener: listener, metrics: probe), logger: Logger(label: "test")
            ))
        let client = RecordingClient()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let port = try #require(await listener.port.value())
            try await client.connect(port: port, group: group)
            try await client.waitUntil { $0.contains { if case .connack = $0 { true } else { false } } }
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await client.waitUntil { $0.contains { if case .disconnect = $0 { true } else { false } } }
        guard case .disconnect(let disconnect)? = try client.packets().last else {
            Issue.record("no DISCONNECT last: \(try client.packets())")
            return
        }
        #expect(disconnect.reasonCode == ReasonCode.serverShuttingDown)
        #expect(probe.seen == ShutdownProbe.Seen(mqttListening: false, storeOpen: true))
        #expect(Self.storeIsClosed(directory))
        try await group.shutdownGracefully()
    }

    /// A port already taken ends the group with the listener's error, and the
    /// store it had opened is closed all the same.
    @Test func bindFailureStillClosesTheStore() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let taken = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        var config = Self.config(directory: directory)
        config.port = try #require(taken.localAddress?.port)
        let server = try BrokerServer(config: config, group: group, logger: Logger(label: "test"), version: "test")
        let listener = MQTTListener(server: server)
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: server.services(listener: listener, metrics: nil), logger: Logger(label: "test")
            ))
        let error = await #expect(throws: ListenError.self) { try await services.run() }
        #expect(error?.what == "MQTT")
        #expect(await listener.port.value() == nil)
        #expect(Self.storeIsClosed(directory))
        try await taken.close()
        try await group.shutdownGracefully()
    }

    static func config(directory: String) -> ServerConfig {
        var config = ServerConfig()
        config.port = 0
        config.sysInterval = 1
        config.storage = StorageOptions(directory: directory)
        return config
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("wharf-shutdown-\(UUID().uuidString)").path
    }

    /// True when nothing holds the data directory's lock.
    static func storeIsClosed(_ directory: String) -> Bool {
        guard let opened = try? Storage.open(StorageOptions(directory: directory)) else { return false }
        opened.0.close()
        return true
    }
}

/// Stands in the metrics listener's place and notes, when told to stop,
/// whether the MQTT listener still listens and the store is still open.
private final class ShutdownProbe: Service {
    struct Seen: Equatable {
        var mqttListening: Bool
        var storeOpen: Bool
    }

    private let listener: BoundPort
    private let storeDirectory: String
    private let noted = Mutex<Seen?>(nil)

    init(listener: BoundPort, storeDirectory: String) {
        self.listener = listener
        self.storeDirectory = storeDirectory
    }

    var seen: Seen? { noted.withLock { $0 } }

    func run() async {
        try? await gracefulShutdown()
        let seen = Seen(mqttListening: listener.listening != nil, storeOpen: !GracefulShutdownTests.storeIsClosed(storeDirectory))
        noted.withLock { $0 = seen }
    }
}

/// A 5.0 client that keeps every byte the broker sends it.
private final class RecordingClient: Sendable {
    private let received = Mutex(ByteBuffer())

    func connect(port: Int, group: any EventLoopGroup) async throws {
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Recorder(client: self)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var connect = ByteBuffer()
        MQTTPacket.connect(ConnectPacket(version: .v5, clientId: "shutdown-order")).encode(into: &connect, version: .v5)
        try await channel.writeAndFlush(connect).get()
    }

    func packets() throws -> [MQTTPacket] {
        var bytes = received.withLock { $0 }
        var parser = MQTTPacketParser(version: .v5, asClient: true)
        var packets: [MQTTPacket] = []
        while let packet = try parser.parse(&bytes) { packets.append(packet) }
        return packets
    }

    /// Polls for up to 5 s.
    func waitUntil(_ done: ([MQTTPacket]) -> Bool) async throws {
        for _ in 0..<500 {
            if done(try packets()) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out; received \(try packets())")
    }

    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let client: RecordingClient

        init(client: RecordingClient) { self.client = client }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            client.received.withLock { _ = $0.writeBuffer(&bytes) }
        }
    }
}
