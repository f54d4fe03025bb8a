import Foundation
import NIOCore
import Synchronization
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// Inbound QoS 2 of a session the cluster keeps, on a real connection
/// handler over an `EmbeddedChannel`, with a scripted `ClusterSessionDirectory`
/// standing in for the cluster (the cluster side has its own tests between
/// real nodes): one record write takes every new QoS 2 PUBLISH of a read,
/// and the record, not a copy kept here, says which ids await PUBREL.
@Suite struct ClusterExchangeConnectionTests {
    /// The cluster as the connection sees it: each connect of a recorded
    /// client gets `nextGrant`; each exchange write answers `recordTakes`.
    final class ScriptedDirectory: ClusterSessionDirectory {
        struct Script {
            var nextGrant: ClusterSessionGrant?
            var recordTakes = true
            var begun: [[UInt16]] = []
            var routed: [UInt16] = []
            /// The session of the last connection that opened.
            var delivering: Session?
        }
        let script = Mutex(Script())

        func claimSession(_ connect: ClusterSessionConnect) async -> ClusterSessionClaim {
            guard connect.expiryInterval > 0, let grant = script.withLock({ $0.nextGrant }) else { return .notRecorded }
            return .claimed(grant)
        }
        func sessionExchangesBegun(
            clientId: String, epoch: UInt64, _ exchanges: [(packetId: UInt16, exchange: InboundExchange)],
            then: @escaping @Sendable (Bool) -> Void
        ) {
            let takes = script.withLock { script in
                script.begun.append(exchanges.map(\.packetId))
                return script.recordTakes
            }
            then(takes)
        }
        func sessionExchangeRouted(
            clientId: String, epoch: UInt64, packetId: UInt16, exchange: InboundExchange, journal: (any JournalWriter)?
        ) {
            script.withLock { $0.routed.append(packetId) }
        }
        func sessionDelivering(clientId: String, epoch: UInt64, session: Session, release: @escaping ClusterSessionRelease) {
            script.withLock { $0.delivering = session }
        }
        func sessionSubscriptionsChanged(
            clientId: String, epoch: UInt64, subscribed: [ClusterSessionSubscription], unsubscribed: [String],
            journal: (any JournalWriter)?
        ) {}
        func sessionReleased(
            clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery, lastPacketId: UInt16, journal: (any JournalWriter)?
        ) {}
        func sessionReleased(
            clientId: String, epoch: UInt64, packetId: UInt16, lastPacketId: UInt16, from group: ConsumerGroup, _ message: Message,
            journal: (any JournalWriter)?
        ) {}
        func sessionCompleted(clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery) {}
        func sessionExchangeCompleted(clientId: String, epoch: UInt64, packetId: UInt16, journal: (any JournalWriter)?) {}
        func sessionEnded(clientId: String, epoch: UInt64, kept: Bool, willHeld: Bool) {}
        func sessionWillPublished(clientId: String) {}
        func sessionExpired(clientId: String) {}
    }

    let broker = Broker()
    let directory = ScriptedDirectory()

    init() {
        broker.clusterSessions = directory
    }

    static func grant(epoch: UInt64, present: Bool, deliveredHere: Bool) -> ClusterSessionGrant {
        ClusterSessionGrant(epoch: epoch, sessionPresent: present, lastDeliveredHere: deliveredHere, subscriptions: [])
    }

    static func publish(_ id: UInt16, dup: Bool = false) -> MQTTPacket {
        .publish(PublishPacket(topic: "orders", payload: ByteBuffer(string: "m\(id)"), qos: .exactlyOnce, dup: dup, packetId: id))
    }

    /// Runs the connection's loop (and the claim's task) until `done` holds, for at most 30 s
    /// (the claim runs on the shared pool, which other suites may keep busy).
    static func until(_ connections: [EmbeddedConnection], _ done: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try !done() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out")
                return
            }
            for connection in connections { connection.runLoop() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A clean subscriber to `orders` at QoS 0: what reached it, by payload.
    func subscriber() async throws -> EmbeddedConnection {
        let connection = try EmbeddedConnection(broker: broker)
        try connection.send(.connect(ConnectPacket(clientId: "reader", cleanSession: true)))
        try await Self.until([connection]) { try connection.received().contains { if case .connack = $0 { true } else { false } } }
        try connection.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "orders", qos: .atMostOnce)])))
        connection.runLoop()
        _ = try connection.received()
        return connection
    }

    /// A publisher whose session the cluster keeps, connected under `grant`.
    func publisher(_ grant: ClusterSessionGrant) async throws -> EmbeddedConnection {
        directory.script.withLock { $0.nextGrant = grant }
        let connection = try EmbeddedConnection(broker: broker)
        try connection.send(.connect(ConnectPacket(clientId: "writer", cleanSession: false)))
        var connected = false
        try await Self.until([connection]) {
            if try connection.received().contains(where: { if case .connack = $0 { true } else { false } }) { connected = true }
            return connected
        }
        return connection
    }

    static func payloads(_ packets: [MQTTPacket]) -> [String] {
        packets.compactMap { if case .publish(let p) = $0 { String(buffer: p.payload) } else { nil } }
    }

    static func pubrecs(_ packets: [MQTTPacket]) -> [UInt16] {
        packets.compactMap { if case .pubrec(let ack) = $0 { ack.packetId } else { nil } }
    }

    @Test func oneRecordWriteTakesEveryNewQoS2PublishOfARead() async throws {
        let reader = try await subscriber()
        let writer = try await publisher(Self.grant(epoch: 1, present: false, deliveredHere: false))
        try writer.send([Self.publish(1), Self.publish(2), .pingreq, Self.publish(3)])
        var got: [String] = []
        var recs: [UInt16] = []
        try await Self.until([writer, reader]) {
            got += Self.payloads(try reader.received())
            recs += Self.pubrecs(try writer.received())
            return recs.count == 3
        }
        #expect(directory.script.withLock { $0.begun } == [[1, 2, 3]], "one write for the read")
        #expect(directory.script.withLock { $0.routed } == [1, 2, 3])
        #expect(recs == [1, 2, 3])
        #expect(got == ["m1", "m2", "m3"], "routed in order")
    }

    @Test func anIdWhoseExchangeNeverReachedTheRecordIsNewOnTheNextConnection() async throws {
        let reader = try await subscriber()
        let first = try await publisher(Self.grant(epoch: 1, present: false, deliveredHere: false))
        // The record does not take the exchange: the connection closes,
        // the message unrouted and unacknowledged.
        directory.script.withLock { $0.recordTakes = false }
        try first.send(Self.publish(7))
        try await Self.until([first]) { !first.isActive }
        #expect(Self.payloads(try reader.received()).isEmpty)

        // The client comes back to this node, which kept its copy of the
        // session, and sends the message again. The record has no exchange
        // for id 7: it is new, and routed.
        directory.script.withLock { $0.recordTakes = true }
        let second = try await publisher(Self.grant(epoch: 2, present: true, deliveredHere: true))
        try second.send(Self.publish(7, dup: true))
        var recs: [UInt16] = []
        try await Self.until([second]) {
            recs += Self.pubrecs(try second.received())
            return !recs.isEmpty
        }
        reader.runLoop()
        #expect(recs == [7])
        #expect(Self.payloads(try reader.received()) == ["m7"], "acknowledged without routing, it was lost")
    }

    /// A session another node delivered last goes on here with packet ids
    /// after the last one its record knows, not from 1. The chaos run: the
    /// record still listed ids 4 to 7 as past PUBREC (the node that
    /// completed them lost its lease before the record said so); the next
    /// node, counting from 1, gave 4 to 7 to new QoS 2 messages, and the
    /// node after it sent PUBREL for the stale entries, which made the
    /// client take those new messages, later sent again from the queue.
    @Test func aSessionFromAnotherNodeGoesOnAfterItsRecordsLastPacketId() async throws {
        directory.script.withLock {
            $0.nextGrant = ClusterSessionGrant(
                epoch: 8, sessionPresent: true, lastDeliveredHere: false,
                subscriptions: [ClusterSessionSubscription(.init(filter: "orders", qos: .exactlyOnce), identifier: 0)],
                released: [ClusterReleasedDelivery(packetId: 4, sequence: 9597)], lastPacketId: 33)
        }
        let connection = try EmbeddedConnection(broker: broker)
        try connection.send(.connect(ConnectPacket(clientId: "chaos-sub-0", cleanSession: false)))
        var packets: [MQTTPacket] = []
        try await Self.until([connection]) {
            packets += try connection.received()
            return packets.contains { if case .pubrel = $0 { true } else { false } }
        }
        #expect(packets.contains { if case .pubrel(let ack) = $0 { ack.packetId == 4 } else { false } })
        try connection.send(.pubcomp(PublishAckPacket(packetId: 4)))
        connection.runLoop()
        let session = try #require(directory.script.withLock { $0.delivering })
        broker.deliverFromInbox(
            Message(topic: "orders", payload: ByteBuffer(string: "new"), qos: .exactlyOnce, retain: false),
            delivery: InboxDelivery(qos: .exactlyOnce, retain: false), sequence: 9700, to: session)
        var ids: [UInt16] = []
        try await Self.until([connection]) {
            ids += try connection.received().compactMap { if case .publish(let p) = $0 { p.packetId } else { nil } }
            return !ids.isEmpty
        }
        #expect(ids == [34], "not 1, and not 4, which the client completed a moment ago")
    }
}
