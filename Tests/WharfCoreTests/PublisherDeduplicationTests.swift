import NIOCore
import Testing
import WharfCore
import WharfMQTT

/// De-duplication ids put back from the journal keep exactly what is left of
/// their window, whatever the machine's uptime.
@Suite struct PublisherDeduplicationTests {
    let day: UInt64 = 86_400 * 1_000_000_000

    @Test func anIdOlderThanTheWindowIsNotRestoredEvenRightAfterBoot() {
        let dedup = PublisherDeduplication(windowSeconds: 7 * 86_400, capacity: 100)
        // Seen 8 days ago; this machine booted a second ago (monotonic 1 s).
        dedup.restore(topic: "orders", id: "a1", age: 8 * day, now: 1_000_000_000)
        #expect(dedup.count == 0)
        #expect(!dedup.isRepeat(topic: "orders", id: "a1", now: 1_000_000_000))
    }

    @Test func anIdWithinTheWindowLivesOnlyForWhatIsLeftOfIt() {
        let dedup = PublisherDeduplication(windowSeconds: 7 * 86_400, capacity: 100)
        let now: UInt64 = 1_000_000_000
        dedup.restore(topic: "orders", id: "a2", age: 1 * day, now: now)
        #expect(dedup.isRepeat(topic: "orders", id: "a2", now: now + 5 * day), "6 days were left")
        dedup.prune(now: now + 6 * day + 1)
        #expect(!dedup.isRepeat(topic: "orders", id: "a2", now: now + 6 * day + 1), "and no more")
    }

    /// Cluster mode: a message another node forwarded carries its id among
    /// the properties subscribers see; a repeat of what this node already
    /// routed is dropped on arrival, and so is a repeat of what arrived.
    @Test func aRepeatArrivingFromAnotherNodeIsNotRoutedAgain() {
        let broker = Broker()
        let owner = RecordingTarget()
        var resend: [OutboundPacket] = []
        let session = broker.openSession(clientId: "s", cleanSession: true, owner: owner, resend: &resend).session
        _ = broker.subscribe(session, [SubscribePacket.Subscription(filter: "orders", qos: .atLeastOnce)])
        var properties = MQTTProperties()
        properties.append(.userProperty, .stringPair(PublisherDeduplication.userPropertyName, "o-1"))
        let message = {
            Message(topic: "orders", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false, properties: properties)
        }
        #expect(message().deduplicationId == "o-1")
        #expect(Message(topic: "orders", payload: ByteBuffer(), qos: .atMostOnce, retain: false).deduplicationId == nil)
        var routes = RouteCache()
        #expect(broker.publishFromCluster(message(), routes: &routes).queued == 1)
        #expect(broker.publishFromCluster(message(), routes: &routes).queued == 0, "a repeat from another node")
        #expect(broker.isRepeat(topic: "orders", id: "o-1", journal: broker.journal.makeWriter()), "and from a publisher here")
        #expect(session.queuedCount == 1)
    }
}
