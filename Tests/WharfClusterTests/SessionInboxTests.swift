import Foundation
import NIOCore
import Synchronization
import Testing
import WharfCore
import WharfMQTT
import WharfNATS
import WharfTestSupport

@testable import WharfCluster

/// Persistent sessions' queues in `WHARF_Q`, on the shared NATS cluster:
/// what a publishing node appends is read back in order by a reader on any
/// node, a purge drops what was acknowledged, and a full queue refuses.
@Suite(.timeLimit(.minutes(2))) struct SessionInboxTests {
    typealias Nodes = ClusterNodeTests

    final class Received: Sendable {
        let items = Mutex<[(sequence: UInt64, message: Message, delivery: InboxDelivery)]>([])
        var count: Int { items.withLock { $0.count } }
        var all: [(sequence: UInt64, message: Message, delivery: InboxDelivery)] { items.withLock { $0 } }
    }

    static func message(_ text: String, topic: String = "orders/1", qos: QoS = .atLeastOnce) -> Message {
        Message(topic: topic, payload: ByteBuffer(string: text), qos: qos, retain: false)
    }

    /// Appends through a journal writer as a publishing connection does;
    /// returns whether the commit its PUBACK waits for succeeded.
    static func append(_ node: Nodes.Node, _ items: [(Message, InboxDelivery)], to clientId: String) async -> Bool {
        let journal = node.broker.journal.makeWriter()
        for (message, delivery) in items { node.cluster.appendToInbox(message, delivery: delivery, clientId: clientId, journal: journal) }
        let mustWait = journal.repliesMustWait
        return await withCheckedContinuation { continuation in
            journal.commit { ok in continuation.resume(returning: ok && mustWait) }
        }
    }

    static func read(_ node: Nodes.Node, _ clientId: String, until count: Int) async throws -> Received {
        let received = Received()
        let reader = node.cluster.inboxReader(for: clientId) { sequence, _, _, message, delivery in
            received.items.withLock { $0.append((sequence, message, delivery)) }
        }
        await reader.run()
        try await Nodes.until("\(count) queued messages read", why: { "\(received.count) read" }) { received.count >= count }
        await reader.stop()
        return received
    }

    @Test func deliveriesTravelInTheHeaders() {
        let plain = InboxDelivery(qos: .atMostOnce, retain: false)
        let full = InboxDelivery(qos: .exactlyOnce, retain: true, identifiers: .many([3, 70_000]))
        for delivery in [plain, full, InboxDelivery(qos: .atLeastOnce, retain: false, identifiers: .one(9))] {
            #expect(SessionInbox.delivery(in: SessionInbox.headers(delivery)) == delivery)
        }
        var bad = SessionInbox.headers(full)
        bad.set("Wharf-Sub-Ids", "3,x")
        #expect(SessionInbox.delivery(in: bad) == nil)
        bad.set("Wharf-QoS", "3")
        #expect(SessionInbox.delivery(in: bad) == nil)
        #expect(SessionInbox.delivery(in: nil) == nil)
    }

    @Test func aQueueWrittenOnOneNodeIsReadInOrderOnAnotherUntilDeleted() async throws {
        try await SessionDirectoryTests.withTwoNodes { a, b in
            let client = Nodes.unique("c")
            let deliveries = [
                InboxDelivery(qos: .atLeastOnce, retain: false), InboxDelivery(qos: .exactlyOnce, retain: true, identifiers: .one(4)),
                InboxDelivery(qos: .atMostOnce, retain: false),
            ]
            let items = deliveries.enumerated().map { (Self.message("m\($0.offset)", qos: $0.element.qos), $0.element) }
            #expect(await Self.append(a, items, to: client), "the publisher's commit waits for the appends")

            let onB = try await Self.read(b, client, until: 3)
            #expect(onB.all.map { String(buffer: $0.message.payload) } == ["m0", "m1", "m2"])
            #expect(onB.all.map(\.delivery) == deliveries)
            #expect(onB.all.allSatisfy { $0.message.topic == "orders/1" })
            let sequences = onB.all.map(\.sequence)
            #expect(sequences == sequences.sorted() && Set(sequences).count == 3)

            // The first two acknowledged: deleted one by one, what a reader
            // finds next is the third; deleting one again is no failure.
            #expect(await b.cluster.deleteInboxEntries(Array(sequences[0..<2])).failed.isEmpty)
            #expect(await b.cluster.deleteInboxEntries([sequences[0]]).failed.isEmpty)
            #expect(try await a.cluster.inboxDepth(of: client) == 1)
            let resumed = try await Self.read(a, client, until: 1)
            #expect(resumed.all.map(\.sequence) == [sequences[2]])

            // A session that ends takes its queue with it, and only its own.
            let other = Nodes.unique("other")
            #expect(await Self.append(a, [(Self.message("kept"), deliveries[0])], to: other))
            #expect(await Self.append(a, items, to: client))
            #expect(try await b.cluster.clearInbox(of: client) == 4)
            #expect(try await a.cluster.inboxDepth(of: client) == 0)
            #expect(try await a.cluster.inboxDepth(of: other) == 1)
            #expect(try await b.cluster.clearInbox(of: client) == 0)

            // Another session's queue is its own.
            #expect(try await a.cluster.inboxDepth(of: Nodes.unique("other")) == 0)
        }
    }

    @Test func aFullQueueRefusesTheNewestAndThePublisherIsStillAcknowledged() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let client = Nodes.unique("c")
        let limit = a.cluster.options.maxQueuedPerSession
        let delivery = InboxDelivery(qos: .atLeastOnce, retain: false)
        var appended = 0
        while appended < limit {
            let batch = (appended..<min(limit, appended + 250)).map { (Self.message("m\($0)"), delivery) }
            #expect(await Self.append(a, batch, to: client))
            appended += batch.count
        }
        let counters = try #require(a.broker.metrics as? BrokerCounters)
        let before = counters.drops(.queueFull)
        #expect(await Self.append(a, [(Self.message("over"), delivery), (Self.message("over again"), delivery)], to: client))
        #expect(counters.drops(.queueFull) == before + 2)
        #expect(try await a.cluster.inboxDepth(of: client) == UInt64(limit))
        await a.cluster.stop()
    }
}

/// Where the record may forget completed QoS 2 deliveries after a round of
/// deletes: below the round's floor, but never past an entry whose delete
/// failed or is still on its way in another round (the chaos test's QoS 2
/// duplicates when rounds overlapped and a node died).
@Suite struct InboxForgetLimitTests {
    @Test func theLimitStopsAtFailuresAndRoundsStillOnTheirWay() {
        #expect(InboxFollower.forgetLimit(500, failed: [], inFlight: []) == 500)
        #expect(InboxFollower.forgetLimit(500, failed: [420, 460], inFlight: []) == 420)
        #expect(InboxFollower.forgetLimit(500, failed: [], inFlight: [300, 350]) == 300)
        #expect(InboxFollower.forgetLimit(200, failed: [], inFlight: [300]) == 200)
    }
}
