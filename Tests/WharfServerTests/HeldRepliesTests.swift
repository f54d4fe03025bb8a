import Logging
import NIOCore
import NIOEmbedded
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// `HeldReplies` on its own: what goes when.
@Suite struct HeldRepliesTests {
    @Test func outputWaitsOnlyWhenItMustOrWhenEarlierOutputWaits() {
        var held = HeldReplies()
        #expect(held.flush(repliesMustWait: false, journalIsEmpty: true) == .write)
        #expect(held.flush(repliesMustWait: false, journalIsEmpty: false) == .write)
        #expect(held.flush(repliesMustWait: true, journalIsEmpty: false) == .commitAndHold)
        let first = held.nextCommit()
        held.hold(ByteBuffer(string: "a"), until: first)
        // Earlier output waits: nothing may overtake it.
        #expect(held.flush(repliesMustWait: false, journalIsEmpty: true) == .queueBehind)
        // Effects to commit, even ones nobody waits for: a commit of their own, held behind.
        #expect(held.flush(repliesMustWait: false, journalIsEmpty: false) == .commitAndHold)
    }

    @Test func releasedInCommitOrderAndOnlyUpToTheDurableCommit() {
        var held = HeldReplies()
        let c1 = held.nextCommit()
        held.hold(ByteBuffer(string: "1"), until: c1)
        var behind = ByteBuffer(string: "+1")
        held.queueBehind(&behind)
        let c2 = held.nextCommit()
        held.hold(ByteBuffer(string: "2"), until: c2)
        let c3 = held.nextCommit()
        held.hold(ByteBuffer(string: "3"), until: c3)
        var written: [String] = []
        let wroteFirst = held.released(upTo: 1) { written.append(String(buffer: $0)) }
        #expect(wroteFirst)
        #expect(written == ["1+1"])
        // A later commit's callback releases everything before it too.
        let wroteRest = held.released(upTo: 3) { written.append(String(buffer: $0)) }
        #expect(wroteRest)
        #expect(written == ["1+1", "2", "3"])
        #expect(held.isEmpty)
        let wroteAgain = held.released(upTo: 4) { _ in Issue.record("nothing is held") }
        #expect(!wroteAgain)
    }

    @Test func closeWaitsForHeldOutput() {
        var held = HeldReplies()
        let deferredWithNothingHeld = held.deferClose()
        #expect(!deferredWithNothingHeld)  // nothing held: close now
        let connack = held.nextCommit()
        held.hold(ByteBuffer(string: "connack"), until: connack)
        let deferred = held.deferClose()
        #expect(deferred)
        #expect(!held.closeIsDue)
        _ = held.released(upTo: 1) { _ in }
        #expect(held.closeIsDue)
    }

    @Test func aFailedCommitDropsWhatWaited() {
        var held = HeldReplies()
        let pubackCommit = held.nextCommit()
        held.hold(ByteBuffer(string: "puback"), until: pubackCommit)
        held.dropAll()
        #expect(held.isEmpty)
        let wrote = held.released(upTo: 1) { _ in Issue.record("dropped output went out") }
        #expect(!wrote)
    }
}

/// The connection handler over a journal whose commits complete when the
/// test says: replies wait for their records, go out in order, and a
/// connection closing with replies held closes after they went out.
@Suite struct HeldRepliesOnAConnectionTests {
    let journal = ManualJournal()
    let counters = BrokerCounters()
    let broker: Broker

    init() {
        broker = Broker(metrics: counters, journal: journal)
    }

    /// Completes commits and runs the hops back to the connection's loop.
    private func complete(_ connection: EmbeddedConnection, _ count: Int = 1, ok: Bool = true) {
        journal.complete(count, ok: ok)
        connection.runLoop()
    }

    private func publish(_ id: UInt16, _ topic: String = "jobs/1") -> MQTTPacket {
        .publish(PublishPacket(topic: topic, payload: ByteBuffer(string: "job \(id)"), qos: .atLeastOnce, packetId: id))
    }

    private func puback(_ id: UInt16) -> MQTTPacket { .puback(PublishAckPacket(packetId: id)) }

    /// A persistent subscriber (its CONNACK and SUBACK waited for their records).
    private func subscriber() throws -> EmbeddedConnection {
        let channel = try EmbeddedConnection(broker: broker)
        try channel.send(.connect(ConnectPacket(clientId: "worker", cleanSession: false, keepAlive: 60)))
        #expect(try channel.received().isEmpty, "CONNACK of a journaled session waits for its record")
        // The session's record (a commit of its own), then the connection's commit waiting behind it.
        #expect(journal.pending == [["session worker"], []])
        complete(channel)
        #expect(try channel.received().isEmpty, "the connection's own commit is not durable yet")
        complete(channel)
        #expect(try channel.received() == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .accepted))])
        try channel.send(.subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "jobs/#", qos: .atLeastOnce)])))
        #expect(try channel.received().isEmpty, "SUBACK waits for the subscription's record")
        #expect(journal.pending == [["subscribed jobs/#"]])
        complete(channel)
        #expect(try channel.received() == [.suback(SubAckPacket(packetId: 1, returnCodes: [SubscribeReturnCode(granted: .atLeastOnce)]))])
        return channel
    }

    private func publisher() throws -> EmbeddedConnection {
        let channel = try EmbeddedConnection(broker: broker)
        try channel.send(.connect(ConnectPacket(clientId: "feeder", cleanSession: true, keepAlive: 60)))
        #expect(try channel.received() == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .accepted))])
        return channel
    }

    @Test func pubacksWaitForTheirCommitAndGoOutInOrder() throws {
        let worker = try subscriber()
        let feeder = try publisher()
        try feeder.send(publish(1), publish(2))
        try feeder.send(publish(3))
        #expect(try feeder.received().isEmpty, "nothing is acknowledged before it is durable")
        #expect(journal.pending == [["taken jobs/1 by 1", "taken jobs/1 by 1"], ["taken jobs/1 by 1"]])
        // A PINGREQ writes nothing durable but must not overtake the held PUBACKs.
        try feeder.send(.pingreq)
        #expect(try feeder.received().isEmpty)
        complete(feeder)
        #expect(try feeder.received() == [puback(1), puback(2)], "only the first commit's replies")
        complete(feeder)
        #expect(try feeder.received() == [puback(3), .pingresp])
        // The subscriber got all three meanwhile (deliveries do not wait).
        worker.runLoop()
        #expect(try worker.received().count == 3)
    }

    @Test func aFailedCommitSendsNoAcknowledgementAndCloses() throws {
        _ = try subscriber()
        let feeder = try publisher()
        try feeder.send(publish(7))
        complete(feeder, ok: false)
        #expect(try feeder.received().isEmpty, "a PUBACK for what may not be durable never goes out")
        #expect(!feeder.isActive)
        #expect(counters.serverCloses(.storageUnavailable) == 1)
    }

    @Test func aClosingConnectionClosesOnlyAfterItsHeldRepliesWentOut() throws {
        _ = try subscriber()
        let feeder = try publisher()
        try feeder.send(publish(9), .disconnect(DisconnectPacket()))
        #expect(feeder.isActive, "the close waits for the held PUBACK")
        complete(feeder)
        #expect(try feeder.received() == [puback(9)])
        #expect(!feeder.isActive)
    }

    @Test func anInMemoryBrokerNeverHolds() throws {
        let broker = Broker(journal: InMemoryJournal())
        let channel = try EmbeddedConnection(broker: broker)
        try channel.send(.connect(ConnectPacket(clientId: "p", cleanSession: false, keepAlive: 60)), publish(1))
        #expect(try channel.received() == [.connack(ConnAckPacket(sessionPresent: false, returnCode: .accepted)), puback(1)])
    }
}
