import Testing
import WharfCore
import WharfMetrics
import WharfMQTT

@Suite struct SnapshotTests {
    private func snapshot(_ broker: Broker, _ counters: BrokerCounters) -> MetricsSnapshot {
        broker.snapshot(counters: counters, version: "t", startTimeSeconds: 0, nowSeconds: 10, maxConnections: 5)
    }

    /// An offline persistent queue reports depth N, lag N messages and lag seconds > 0; draining and acking brings both to 0.
    @Test func queueDepthAndLag() throws {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters)
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        let session = broker.openSession(clientId: "worker", cleanSession: false, owner: owner, resend: &packets).session
        _ = broker.subscribe(session, [.init(filter: "jobs", qos: .atLeastOnce)])
        broker.closeSession(session, owner: owner)
        for i in 0..<4 { broker.publish(message("jobs", "\(i)")) }

        var queue = try #require(snapshot(broker, counters).queues.first)
        #expect(queue.name == "worker" && queue.consumers == 0)
        #expect(queue.depth == 4 && queue.inflight == 0 && queue.lagMessages == 4 && queue.enqueuedTotal == 4)
        #expect(queue.lagSeconds > 0)
        #expect(queue.oldestMessageAgeSeconds != nil)
        #expect(snapshot(broker, counters).sessions == .init(online: 0, offline: 1))

        let back = RecordingTarget()
        _ = broker.openSession(clientId: "worker", cleanSession: false, owner: back, resend: &packets)
        packets.removeAll()
        session.takePackets(for: back, into: &packets)
        queue = try #require(snapshot(broker, counters).queues.first)
        #expect(queue.depth == 0 && queue.inflight == 4 && queue.lagMessages == 4 && queue.deliveredTotal == 4)
        #expect(queue.oldestMessageAgeSeconds == nil)
        for packet in packets { _ = session.acknowledge(packet.packetId!, from: back) }
        queue = try #require(snapshot(broker, counters).queues.first)
        #expect(queue.lagMessages == 0 && queue.lagSeconds == 0 && queue.acknowledgedTotal == 4)
        #expect(snapshot(broker, counters).messages.receivedTotal == 4)
    }
}
