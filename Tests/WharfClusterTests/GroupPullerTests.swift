import NIOCore
import Testing
import WharfCore
import WharfMQTT
import WharfNATS

@testable import WharfCluster

/// `GroupPuller` on a real node over the shared NATS cluster: what it does
/// with an entry JetStream gives out again.
@Suite struct GroupPullerTests {
    typealias Nodes = ClusterNodeTests

    /// The node's +WPI did not reach the server in time (NATS trouble), so
    /// JetStream gives an entry out again to the node that still holds it,
    /// out with a member: it stays that member's, and no other copy goes out.
    @Test func anEntryGivenOutAgainWhileHeldHereGoesToNoSecondMember() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        defer { Task { await a.cluster.stop() } }
        let topic = Nodes.unique("t")
        let name = Nodes.unique("g")
        let share = GroupQueue.shareText(name: name, filter: topic)
        let owners = (Nodes.Owner(), Nodes.Owner())
        var resend: [OutboundPacket] = []
        let first = a.broker.openSession(clientId: Nodes.unique("m"), cleanSession: true, owner: owners.0, resend: &resend).session
        let second = a.broker.openSession(clientId: Nodes.unique("m"), cleanSession: true, owner: owners.1, resend: &resend).session
        for member in [first, second] {
            _ = a.broker.subscribe(member, [SubscribePacket.Subscription(filter: share, qos: .atLeastOnce)])
        }
        try await Nodes.until("a pulls for the group", timeout: .seconds(30)) {
            a.cluster.state.withLock { $0.groupPullers[share] } != nil
        }
        let puller = try #require(a.cluster.state.withLock { $0.groupPullers[share] })
        let stored = await Nodes.publishAndCommit(
            a, Message(topic: topic, payload: ByteBuffer(string: "job"), qos: .atLeastOnce, retain: false))
        #expect(stored)
        var packets: [OutboundPacket] = []
        try await Nodes.until("a member gets it", timeout: .seconds(30)) {
            packets += Nodes.drain(first, owners.0) + Nodes.drain(second, owners.1)
            return !packets.isEmpty
        }
        let entry = try #require(
            await a.cluster.jetStream.getMessage(GroupQueue.stream, .last(subject: GroupQueue.subject(name: name, filter: topic))))

        // Given out again, unacknowledged (the member has not PUBACKed).
        let metadata = JetStreamMessageMetadata(
            stream: GroupQueue.stream, consumer: puller.consumer, delivered: 2, streamSequence: entry.sequence, consumerSequence: 2,
            timestamp: entry.time, pending: 0)
        puller.received(
            NATSMessage(subject: entry.subject, sid: 0, replyTo: "_INBOX.\(Nodes.unique("again"))", payload: ByteBuffer()), metadata
        ) { _ in Message(topic: topic, payload: ByteBuffer(string: "job"), qos: .atLeastOnce, retain: false) }
        // Long enough for the records to be asked (a read and a watch wait).
        try await Task.sleep(for: .seconds(2))
        packets += Nodes.drain(first, owners.0) + Nodes.drain(second, owners.1)
        #expect(packets.count == 1, "one copy out: \(packets.compactMap(\.payloadText))")
        #expect(puller.counts.pulled == 1 && puller.counts.held == 1)
    }

    /// An entry given out again that no record names and that is no longer
    /// in the queue (a claim deleted it, then its record forgot it, while
    /// this delivery was on its way) is let go, not handed to a member.
    @Test func anEntryGivenOutAgainButDeletedMeanwhileGoesToNoMember() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        defer { Task { await a.cluster.stop() } }
        let topic = Nodes.unique("t")
        let share = GroupQueue.shareText(name: Nodes.unique("g"), filter: topic)
        let owner = Nodes.Owner()
        var resend: [OutboundPacket] = []
        let member = a.broker.openSession(clientId: Nodes.unique("m"), cleanSession: true, owner: owner, resend: &resend).session
        _ = a.broker.subscribe(member, [SubscribePacket.Subscription(filter: share, qos: .atLeastOnce)])
        try await Nodes.until("a pulls for the group", timeout: .seconds(30)) {
            a.cluster.state.withLock { $0.groupPullers[share] } != nil
        }
        let puller = try #require(a.cluster.state.withLock { $0.groupPullers[share] })
        // An entry of the queue's stream that is gone by the time it is
        // given out again (stored under a subject no consumer reads).
        let gone = try await a.cluster.jetStream.publish("wg.\(Nodes.unique("elsewhere"))", payload: ByteBuffer(string: "job"))
        #expect(try await a.cluster.jetStream.deleteMessage(GroupQueue.stream, sequence: gone.sequence))
        let metadata = JetStreamMessageMetadata(
            stream: GroupQueue.stream, consumer: puller.consumer, delivered: 2, streamSequence: gone.sequence, consumerSequence: 2,
            timestamp: .zero, pending: 0)
        puller.received(
            NATSMessage(subject: "wg.x", sid: 0, replyTo: "_INBOX.\(Nodes.unique("again"))", payload: ByteBuffer()), metadata
        ) { _ in Message(topic: topic, payload: ByteBuffer(string: "job"), qos: .atLeastOnce, retain: false) }
        try await Task.sleep(for: .seconds(2))
        #expect(Nodes.drain(member, owner).isEmpty, "no member gets an entry no longer in the queue")
        #expect(puller.counts.pulled == 0)
    }
}
