import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WharfMQTT
import WharfNATS
import WharfTestSupport

@testable import WharfCluster
@testable import WharfCore

/// Two nodes in one process, each a Broker with its ClusterNode, on the
/// shared three-server NATS cluster: the link's behaviour without sockets
/// of MQTT clients (the e2e suite has those).
@Suite(.timeLimit(.minutes(2))) struct ClusterNodeTests {
    final class Owner: DeliveryTarget {
        func deliveriesPending() {}
        func sessionTakenOver() {}
        func resumeReading() {}
    }

    struct Node {
        let broker: Broker
        let cluster: ClusterNode
    }

    /// A node on the shared NATS cluster. `adopts`: whether it adopts the
    /// offline sessions of nodes that are gone; off unless a test means it
    /// to, or a node of another test running beside it could take them.
    static func node(_ name: String, adopts: Bool = false) async throws -> Node {
        var nats = try NATSConnectionOptions(urls: NATSTestCluster.shared.clientURLs)
        nats.shuffleServers = true
        // As in JetStreamTests: answers beside the other suites can take
        // more than the default 5 s here.
        nats.requestTimeout = .seconds(10)
        var options = ClusterOptions(nodeName: name, nats: nats, replicas: 3, lease: .seconds(3))
        options.adoptsOrphanedSessions = adopts
        let cluster = try ClusterNode(options: options, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let broker = Broker(journal: ClusterJournal(wrapping: InMemoryJournal()))
        cluster.attach(to: broker)
        Task { await cluster.run() }
        // A fresh cluster's first node creates the streams and buckets (R3,
        // an election each): seconds on a machine busy with the other suites.
        try await until(
            "\(name) ready", timeout: .seconds(60),
            why: {
                [cluster.readiness.reason, cluster.state.withLock { $0.lastProblem }.map { "last problem: \($0)" }]
                    .compactMap { $0 }.joined(separator: "; ")
            }
        ) { cluster.readiness.ready }
        return Node(broker: broker, cluster: cluster)
    }

    static func until(
        _ what: String, timeout: Duration = .seconds(20), why: () -> String? = { nil }, _ condition: () -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                let reason = why().map { ": \($0)" } ?? ""
                Issue.record("timed out waiting for \(what)\(reason)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

    /// Publishes through `node`'s journal as a connection does, and returns
    /// whether the commit the PUBACK would wait for succeeded.
    static func publishAndCommit(_ node: Node, _ message: Message) async -> Bool {
        let journal = node.broker.journal.makeWriter()
        var routes = RouteCache()
        node.broker.publish(message, routes: &routes, journal: journal)
        let mustWait = journal.repliesMustWait
        return await withCheckedContinuation { continuation in
            journal.commit { ok in continuation.resume(returning: ok && mustWait) }
        }
    }

    /// Whether `node` forwards a message on `topic` to `other`.
    static func routes(_ node: Node, _ topic: String, to other: Node) -> Bool {
        var targets: [RouteTarget] = []
        node.broker.tree.withLock { $0.match(topic: topic, into: &targets) }
        return targets.contains { target in
            if case .remote(let remote) = target.destination { return remote.name == other.cluster.options.nodeName }
            return false
        }
    }

    static func drain(_ session: Session, _ owner: Owner) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        _ = session.takePackets(for: owner, into: &packets)
        return packets
    }

    @Test func aPublishOnOneNodeReachesASubscriberOnTheOtherOnceStored() async throws {
        let a = try await Self.node(Self.unique("a"))
        let b = try await Self.node(Self.unique("b"))
        let topic = Self.unique("t")
        let owner = Owner()
        var resend: [OutboundPacket] = []
        let subscriber = b.broker.openSession(clientId: Self.unique("sub"), cleanSession: true, owner: owner, resend: &resend).session
        // Overlapping filters on one node: one copy, at the highest QoS.
        _ = b.broker.subscribe(
            subscriber,
            [SubscribePacket.Subscription(filter: "\(topic)/#", qos: .atMostOnce), .init(filter: "\(topic)/+", qos: .exactlyOnce)])
        // Not a count of routes: other suites' nodes on the shared cluster have theirs.
        try await Self.until("a routes \(topic)/x to b") { Self.routes(a, "\(topic)/x", to: b) }
        let stored = await Self.publishAndCommit(
            a, Message(topic: "\(topic)/x", payload: ByteBuffer(string: "hello"), qos: .exactlyOnce, retain: false))
        #expect(stored, "the commit waited for the forward and it was stored")
        var packets: [OutboundPacket] = []
        try await Self.until("b delivers") {
            packets += Self.drain(subscriber, owner)
            return !packets.isEmpty
        }
        try await Task.sleep(for: .milliseconds(200))
        packets += Self.drain(subscriber, owner)
        #expect(packets.count == 1)
        #expect(packets.first?.qos == .exactlyOnce)
        #expect(packets.first.flatMap(\.payloadText) == "hello")
        // Unsubscribing removes the route from the other node.
        b.broker.unsubscribe(subscriber, filters: ["\(topic)/#", "\(topic)/+"])
        try await Self.until("a forgets b's routes") { !Self.routes(a, "\(topic)/x", to: b) }
        await a.cluster.stop()
        await b.cluster.stop()
    }

    @Test func retainedMessagesReachEveryNodeAndClear() async throws {
        let a = try await Self.node(Self.unique("a"))
        let b = try await Self.node(Self.unique("b"))
        let topic = Self.unique("r")
        #expect(
            await Self.publishAndCommit(a, Message(topic: topic, payload: ByteBuffer(string: "kept"), qos: .atLeastOnce, retain: true)),
            "\(a.cluster.state.withLock { $0.lastProblem } ?? "")")
        try await Self.until("b has it") { b.broker.retainedMessage(topic) == "kept" }
        #expect(await Self.publishAndCommit(a, Message(topic: topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true)))
        try await Self.until("b cleared it") { b.broker.retainedMessage(topic) == nil }
        await a.cluster.stop()
        await b.cluster.stop()
    }

    /// A node that stops withdraws its lease: the other sees it go at once
    /// (not after the lease) and stops routing to it.
    @Test func aStoppedNodeLeavesAtOnce() async throws {
        let a = try await Self.node(Self.unique("a"))
        let bName = Self.unique("b")
        let b = try await Self.node(bName)
        let owner = Owner()
        var resend: [OutboundPacket] = []
        let subscriber = b.broker.openSession(clientId: Self.unique("sub"), cleanSession: true, owner: owner, resend: &resend).session
        let topic = Self.unique("x")
        _ = b.broker.subscribe(subscriber, [SubscribePacket.Subscription(filter: topic, qos: .atLeastOnce)])
        try await Self.until("a sees b") { a.cluster.liveNodes.contains { $0.name == bName } && Self.routes(a, topic, to: b) }
        await b.cluster.stop()
        try await Self.until("a sees b gone", timeout: .seconds(2)) {
            !a.cluster.liveNodes.contains { $0.name == bName } && !Self.routes(a, topic, to: b)
        }
        await a.cluster.stop()
    }
}

extension OutboundPacket {
    var qos: QoS? {
        if case .publish(_, let qos, _, _, _, _) = self { return qos }
        return nil
    }

    var payloadText: String? {
        if case .publish(let message, _, _, _, _, _) = self { return String(buffer: message.payload) }
        return nil
    }
}

extension Broker {
    /// The retained payload of `topic` on this node, as a text.
    func retainedMessage(_ topic: String) -> String? {
        let owner = ClusterNodeTests.Owner()
        var resend: [OutboundPacket] = []
        let probe = openSession(clientId: "probe-\(UUID().uuidString)", cleanSession: true, owner: owner, resend: &resend).session
        _ = subscribe(probe, [SubscribePacket.Subscription(filter: topic, qos: .atMostOnce)])
        var packets: [OutboundPacket] = []
        _ = probe.takePackets(for: owner, into: &packets)
        closeSession(probe, owner: owner)
        return packets.first?.payloadText
    }
}
