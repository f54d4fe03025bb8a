import Testing
import WharfCore
import WharfMQTT
import WharfMetrics

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

/// Lag and ages, computed once for sessions' queues and groups alike.
@Suite struct QueueFiguresTests {
    @Test func lagCountsWaitingAndInFlightAndAgesFromTheOldest() {
        let figures = QueueFigures(
            depth: 3, inflight: 2, enqueuedTotal: 9, deliveredTotal: 6, acknowledgedTotal: 4,
            oldestQueuedNanos: 5_000_000_000, oldestInflightNanos: 2_000_000_000
        )
        #expect(figures.lagMessages == 5)
        #expect(figures.lagSeconds(now: 10_000_000_000) == 8, "from the oldest unacknowledged: the one in flight")
        #expect(figures.oldestMessageAgeSeconds(now: 10_000_000_000) == 5, "from the oldest waiting")
    }

    @Test func anEmptyQueueHasNoLagAndNoAge() {
        let figures = QueueFigures(depth: 0, inflight: 0, enqueuedTotal: 1, deliveredTotal: 1, acknowledgedTotal: 1)
        #expect(figures.lagMessages == 0)
        #expect(figures.lagSeconds(now: 10) == 0)
        #expect(figures.oldestMessageAgeSeconds(now: 10) == nil)
    }

    @Test func aClockReadBeforeThePublishTimeIsNoAge() {
        let figures = QueueFigures(depth: 1, inflight: 0, enqueuedTotal: 1, deliveredTotal: 0, acknowledgedTotal: 0, oldestQueuedNanos: 50)
        #expect(figures.lagSeconds(now: 10) == 0)
    }
}
