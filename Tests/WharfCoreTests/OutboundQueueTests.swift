import Testing
import WharfCore
import WharfMQTT

@Suite struct OutboundQueueTests {
    private func drain(_ queue: inout OutboundQueue) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        queue.nextPackets(into: &packets)
        return packets
    }

    /// No more than maxInflight QoS 1 messages are unacknowledged at once; acks free the window in order.
    @Test func inflightWindow() {
        var queue = OutboundQueue(maxInflight: 2, maxQueued: 10)
        for i in 0..<5 { _ = queue.enqueue(message("t", "\(i)"), qos: .atLeastOnce, retain: false) }
        let first = drain(&queue)
        #expect(first.map(\.payloadString) == ["0", "1"])
        #expect(queue.inflightCount == 2 && queue.queuedCount == 3)
        #expect(drain(&queue).isEmpty)
        let acked = queue.acknowledge(first[0].packetId!)
        #expect(acked != nil)
        #expect(drain(&queue).map(\.payloadString) == ["2"])
    }

    /// QoS 0 behind a blocked QoS 1 waits, so per-topic order is kept.
    @Test func orderKeptAcrossQoS() {
        var queue = OutboundQueue(maxInflight: 1, maxQueued: 10)
        _ = queue.enqueue(message("t", "a"), qos: .atLeastOnce, retain: false)
        _ = queue.enqueue(message("t", "b"), qos: .atLeastOnce, retain: false)
        _ = queue.enqueue(message("t", "c"), qos: .atMostOnce, retain: false)
        let sent = drain(&queue)
        #expect(sent.map(\.payloadString) == ["a"])
        #expect(!queue.canSend)
        _ = queue.acknowledge(sent[0].packetId!)
        #expect(drain(&queue).map(\.payloadString) == ["b", "c"])
    }

    /// Beyond maxQueued, enqueue reports queue full and keeps what it had.
    @Test func queueLimit() {
        var queue = OutboundQueue(maxInflight: 1, maxQueued: 2)
        let results = (0..<3).map { _ in queue.enqueue(message("t"), qos: .atLeastOnce, retain: false) }
        #expect(results == [.accepted, .accepted, .droppedQueueFull])
        #expect(queue.queuedCount == 2)
    }

    /// QoS 2: PUBREC moves the message to awaiting PUBCOMP; a resend then carries PUBREL, not PUBLISH.
    @Test func exactlyOnceHandshake() {
        var queue = OutboundQueue(maxInflight: 5, maxQueued: 10)
        _ = queue.enqueue(message("t", "a"), qos: .exactlyOnce, retain: false)
        _ = queue.enqueue(message("t", "b"), qos: .exactlyOnce, retain: false)
        let sent = drain(&queue)
        let (idA, idB) = (sent[0].packetId!, sent[1].packetId!)
        let pubackOnQoS2 = queue.acknowledge(idA)
        #expect(pubackOnQoS2 == nil, "PUBACK is not valid for QoS 2")
        let recKnown = queue.received(idA)
        #expect(recKnown)
        let earlyComplete = queue.completed(idB)
        #expect(earlyComplete == nil, "PUBCOMP before PUBREC is ignored")
        var resend: [OutboundPacket] = []
        queue.resendPackets(into: &resend)
        guard case .pubrel(let relId) = resend[0] else {
            Issue.record("expected PUBREL first")
            return
        }
        #expect(relId == idA)
        #expect(resend[1].isDup && resend[1].payloadString == "b")
        let done = queue.completed(idA)
        #expect(done != nil)
        #expect(queue.inflightCount == 1)
    }

    /// Unacknowledged messages are resent in their original order with DUP set.
    @Test func resendInOrderWithDup() {
        var queue = OutboundQueue(maxInflight: 10, maxQueued: 10)
        for i in 0..<4 { _ = queue.enqueue(message("t", "\(i)"), qos: .atLeastOnce, retain: false) }
        let sent = drain(&queue)
        _ = queue.acknowledge(sent[1].packetId!)
        var resend: [OutboundPacket] = []
        queue.resendPackets(into: &resend)
        #expect(resend.map(\.payloadString) == ["0", "2", "3"])
        #expect(resend.allSatisfy { $0.isDup })
        #expect(resend.map(\.packetId) == [sent[0].packetId, sent[2].packetId, sent[3].packetId])
    }

    /// Packet ids are never 0, wrap after 65535 and skip ids still in flight.
    @Test func packetIdAllocation() {
        var queue = OutboundQueue(maxInflight: 2, maxQueued: 100_000)
        var seen = Set<UInt16>()
        var stuck: UInt16?
        for i in 0..<70_000 {
            _ = queue.enqueue(message("t"), qos: .atLeastOnce, retain: false)
            for packet in drain(&queue) {
                let id = packet.packetId!
                #expect(id != 0)
                seen.insert(id)
                if i == 0 { stuck = id } else { _ = queue.acknowledge(id) }
            }
        }
        #expect(seen.count == 65_535)
        #expect(queue.inflightCount == 1 && stuck != nil)
    }

    /// Unknown ids are ignored rather than trusted.
    @Test func unknownAcknowledgementsIgnored() {
        var queue = OutboundQueue(maxInflight: 2, maxQueued: 2)
        let ack = queue.acknowledge(7)
        let rec = queue.received(7)
        let comp = queue.completed(7)
        #expect(ack == nil && !rec && comp == nil)
    }
}

/// Cluster mode: an offline session's figures with its queue in the cluster.
@Suite struct OutboundQueueClusterBacklogTests {
    /// Entries held here (read while online) are in the cluster's count too:
    /// counted once. Waiting: here, plus what was never read.
    @Test func entriesHeldHereAreCountedOnce() {
        var queue = OutboundQueue(maxInflight: 1, maxQueued: 10)
        _ = queue.enqueue(message("t", "a"), qos: .atLeastOnce, retain: false, inboxSequence: 5)
        _ = queue.enqueue(message("t", "b"), qos: .atLeastOnce, retain: false, inboxSequence: 6)
        _ = queue.enqueue(message("r", "retained"), qos: .atLeastOnce, retain: true, onSubscribe: true)
        var packets: [OutboundPacket] = []
        queue.nextPackets(into: &packets)
        #expect(queue.inflightCount == 1 && queue.queuedCount == 2)
        // The cluster holds 5, 6 and four more never read.
        let figures = queue.figures(clusterBacklog: 6, oldestNanos: 42)
        #expect(figures.depth == 2 + 4 && figures.inflight == 1)
        #expect(figures.oldestQueuedNanos == 42)
        #expect(queue.oldestInboxSequence == 5)
    }
}
