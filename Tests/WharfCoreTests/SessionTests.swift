import Foundation
import Testing
import WharfCore
import WharfMQTT

@Suite struct SessionTests {
    /// Many enqueues before the owner drains cause a single wake-up: one hop per batch.
    @Test func oneWakeUpPerBatch() {
        let s = session()
        let owner = RecordingTarget()
        var resend: [OutboundPacket] = []
        _ = s.attach(owner, resend: &resend)
        for _ in 0..<100 { _ = s.enqueue(message("t", qos: .atMostOnce), qos: .atMostOnce) }
        #expect(owner.pendingCalls == 1)
        var packets: [OutboundPacket] = []
        s.takePackets(for: owner, into: &packets)
        #expect(packets.count == 100)
        _ = s.enqueue(message("t", qos: .atMostOnce), qos: .atMostOnce)
        #expect(owner.pendingCalls == 2)
    }

    /// With the window full, enqueues do not wake the owner (acks drive the drain).
    @Test func noWakeUpWhileWindowFull() {
        let s = session(maxInflight: 1)
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        _ = s.enqueue(message("t"), qos: .atLeastOnce)
        s.takePackets(for: owner, into: &packets)
        #expect(owner.pendingCalls == 1 && packets.count == 1)
        for _ in 0..<10 { _ = s.enqueue(message("t"), qos: .atLeastOnce) }
        #expect(owner.pendingCalls == 1)
    }

    /// An offline persistent session queues QoS 1/2 but not QoS 0.
    @Test func offlinePersistentQueuesOnlyQoS1And2() {
        let s = session(persistent: true)
        #expect(s.enqueue(message("t"), qos: .atMostOnce) == .droppedOffline)
        #expect(s.enqueue(message("t"), qos: .atLeastOnce) == .accepted)
        #expect(s.enqueue(message("t"), qos: .exactlyOnce) == .accepted)
        #expect(s.queuedCount == 2)
    }

    /// Only the current owner can drain or detach; a replaced owner gets nothing.
    @Test func replacedOwnerIsIgnored() {
        let s = session(persistent: true)
        let old = RecordingTarget()
        let new = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(old, resend: &packets)
        let previous = s.attach(new, resend: &packets)
        #expect(previous === old)
        _ = s.enqueue(message("t"), qos: .atLeastOnce)
        s.takePackets(for: old, into: &packets)
        #expect(packets.isEmpty)
        #expect(!s.detach(old))
        #expect(s.isOnline)
        #expect(s.detach(new))
        #expect(!s.isOnline)
    }

    /// An inbound QoS 2 id is routed once until PUBREL releases it.
    @Test func inboundExactlyOnce() {
        let s = session()
        #expect(s.beginInboundExactlyOnce(5))
        #expect(!s.beginInboundExactlyOnce(5))
        s.releaseInbound(5)
        #expect(s.beginInboundExactlyOnce(5))
    }
}

@Suite struct FlowControlTests {
    /// A publisher filling an online queue past 3/4 is paused, and resumed once the owner drains below 1/4.
    @Test func publisherPausedAndResumed() {
        let s = session(maxInflight: 100, maxQueued: 8)
        let owner = RecordingTarget()
        let publisher = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        let results = (0..<6).map { _ in s.enqueue(message("t", qos: .atMostOnce), qos: .atMostOnce, publisher: publisher) }
        #expect(results.prefix(5).allSatisfy { $0 == .accepted })
        #expect(results[5] == .acceptedPausePublisher)
        s.takePackets(for: owner, into: &packets)
        #expect(packets.count == 6)
        #expect(publisher.resumeCalls == 1)
    }

    /// A connection is never paused for its own queue (it must read its acknowledgements).
    @Test func neverPausesOwnConnection() {
        let s = session(maxInflight: 1, maxQueued: 4)
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        let results = (0..<4).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: owner) }
        #expect(!results.contains(.acceptedPausePublisher))
    }

    /// Offline sessions never pause publishers; when the owner leaves, paused publishers resume.
    @Test func offlineNeverPauses() {
        let s = session(persistent: true, maxInflight: 1, maxQueued: 4)
        let owner = RecordingTarget()
        let publisher = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        for _ in 0..<3 { _ = s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(publisher.resumeCalls == 0)
        s.detach(owner)
        #expect(publisher.resumeCalls == 1)
        #expect(s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) == .accepted)
    }

    /// A consumer that makes no progress for the pause bound is stuck: its
    /// publishers are released and no longer held for it, and what overflows
    /// its queue is dropped (and counted by the caller) until it drains.
    @Test func stuckConsumerStopsHoldingPublishers() throws {
        let s = session(maxInflight: 1, maxQueued: 8)
        let owner = RecordingTarget()
        let publisher = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        s.takePackets(for: owner, into: &packets)
        let first = (0..<7).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(first.contains(.acceptedPausePublisher))
        Thread.sleep(forTimeInterval: Double(Session.maxPauseNanos) / 1e9 + 0.05)  // no ack, no drain
        #expect(s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) == .accepted)
        #expect(publisher.resumeCalls == 1, "released at once")
        let after = (0..<3).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(!after.contains(.acceptedPausePublisher))
        #expect(after.last == .droppedQueueFull)
        // Once it drains below the low-water mark, flow control applies again.
        packets.removeAll()
        s.takePackets(for: owner, into: &packets)
        for _ in 0..<8 {
            guard let id = packets.last?.packetId else { break }
            _ = s.acknowledge(id, from: owner)
            packets.removeAll()
            s.takePackets(for: owner, into: &packets)
        }
        #expect(s.queuedCount <= 2)
        let again = (0..<8).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(again.contains(.acceptedPausePublisher))
    }

    /// A consumer whose event loop was blocked (by another connection's heavy
    /// packet, say) is not stuck, however long it took nothing: publishers
    /// keep waiting for it instead of overflowing its queue. Once its loop
    /// runs for the pause bound and it still takes nothing, it is stuck.
    @Test func blockedLoopIsNotBlamedOnTheConsumer() throws {
        let s = session(maxInflight: 1, maxQueued: 8)
        let owner = RecordingTarget()
        owner.loopClock.withLock { $0 = 1_000 }  // its loop is blocked: the clock stands still
        let publisher = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        s.takePackets(for: owner, into: &packets)
        let first = (0..<7).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(first.contains(.acceptedPausePublisher))
        Thread.sleep(forTimeInterval: Double(Session.maxPauseNanos) / 1e9 + 0.05)  // no ack, no drain, no loop time
        #expect(s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) == .acceptedPausePublisher)
        #expect(publisher.resumeCalls == 0, "still held: the consumer never had the time")
        // Its loop runs again for the whole bound and it still takes nothing: stuck.
        owner.loopClock.withLock { $0 = 1_000 + Session.maxPauseNanos }
        #expect(s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) == .droppedQueueFull)
        #expect(publisher.resumeCalls == 1, "released once judged stuck")
    }

    /// `max_queued_messages = 0` means no limit, as in Mosquitto: nothing is
    /// dropped and publishers are never paused for it.
    @Test func zeroMeansUnlimited() {
        let s = session(persistent: true, maxInflight: 1, maxQueued: 0)
        let publisher = RecordingTarget()
        let results = (0..<5000).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(results.allSatisfy { $0 == .accepted })
        #expect(s.queuedCount == 5000)
    }

    /// A slow consumer that keeps acknowledging keeps pacing its publishers
    /// (they wait rather than lose messages).
    @Test func slowConsumerKeepsPacing() {
        let s = session(maxInflight: 1, maxQueued: 8)
        let owner = RecordingTarget()
        let publisher = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(owner, resend: &packets)
        let first = (0..<7).map { _ in s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) }
        #expect(first.contains(.acceptedPausePublisher))
        s.takePackets(for: owner, into: &packets)
        Thread.sleep(forTimeInterval: Double(Session.maxPauseNanos) / 1e9 + 0.05)
        _ = s.acknowledge(packets[0].packetId!, from: owner)  // progress, just slow
        #expect(s.enqueue(message("t"), qos: .atLeastOnce, publisher: publisher) == .acceptedPausePublisher)
    }
}

@Suite struct TakeoverAckTests {
    /// After a takeover, an ack from the old connection frees nothing: the
    /// message is resent to the new one and only its ack counts.
    @Test func oldOwnerCannotAcknowledge() {
        let s = session(persistent: true)
        let old = RecordingTarget()
        var packets: [OutboundPacket] = []
        _ = s.attach(old, resend: &packets)
        _ = s.enqueue(message("t", "m"), qos: .atLeastOnce)
        s.takePackets(for: old, into: &packets)
        let id = packets[0].packetId!
        let new = RecordingTarget()
        var resend: [OutboundPacket] = []
        _ = s.attach(new, resend: &resend)
        #expect(resend.count == 1 && resend[0].isDup)
        #expect(s.acknowledge(id, from: old) == nil)
        #expect(s.inflightCount == 1)
        #expect(s.acknowledge(id, from: new) != nil)
        #expect(s.inflightCount == 0)
    }
}
