import NIOCore
import Testing
import WharfMQTT

@testable import WharfCore

@Suite struct PolicyTests {
    @Test func firstMatchWinsAndDeadLettersAreExempt() {
        let policies = DeliveryPolicies([
            DeliveryPolicy(pattern: "orders/eu/#", messageTTL: 5),
            DeliveryPolicy(pattern: "orders/#", maxDeliveryAttempts: 3),
            DeliveryPolicy(pattern: "#", messageTTL: 60),
        ])
        #expect(policies.policy(for: "orders/eu/1")?.messageTTL == 5)
        #expect(policies.policy(for: "orders/us/1")?.maxDeliveryAttempts == 3)
        #expect(policies.policy(for: "sensors/x")?.messageTTL == 60)
        #expect(policies.policy(for: "$DLQ/orders/us/1") == nil)
        #expect(policies.policy(for: "$SYS/broker/uptime") == nil, "# does not match $ topics")
    }

    /// Waiting messages past their TTL are dropped on the way out, and counted.
    @Test func expiredMessagesAreSkipped() {
        var queue = OutboundQueue(maxInflight: 10, maxQueued: 10)
        let now = Clock.nowNanos()
        let stale = Message(
            topic: "t", payload: ByteBuffer(string: "stale"), qos: .atLeastOnce, retain: false, publishedAtNanos: now - 2_000_000_000,
            expiresAtNanos: now - 1_000_000_000)
        let fresh = Message(
            topic: "t", payload: ByteBuffer(string: "fresh"), qos: .atLeastOnce, retain: false, expiresAtNanos: now + 60_000_000_000)
        _ = queue.enqueue(stale, qos: .atLeastOnce, retain: false)
        _ = queue.enqueue(fresh, qos: .atLeastOnce, retain: false)
        var packets: [OutboundPacket] = []
        #expect(queue.nextPackets(into: &packets) == 1)
        #expect(packets.compactMap(\.payloadString) == ["fresh"])
    }

    /// Each resend after a reconnect is an attempt; past the limit the message comes out as a dead letter.
    @Test func resendsCountAttempts() {
        var queue = OutboundQueue(maxInflight: 10, maxQueued: 10)
        let poison = Message(topic: "work", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false, maxDeliveryAttempts: 2)
        _ = queue.enqueue(poison, qos: .atLeastOnce, retain: false)
        var packets: [OutboundPacket] = []
        queue.nextPackets(into: &packets)  // attempt 1
        packets.removeAll()
        #expect(queue.resendPackets(into: &packets).isEmpty)  // attempt 2
        #expect(packets.count == 1 && packets[0].isDup)
        packets.removeAll()
        let dead = queue.resendPackets(into: &packets)
        #expect(dead.count == 1 && dead[0].0 === poison && dead[0].attempts == 2 && packets.isEmpty && queue.inflightCount == 0)
    }

    /// A queue at a policy's max_length drops its oldest waiting message, or refuses the new one.
    @Test func maxLength() {
        for (overflow, expected) in [(DeliveryPolicy.Overflow.dropOldest, ["2", "3", "4"]), (.rejectNew, ["0", "1", "2"])] {
            var queue = OutboundQueue(maxInflight: 10, maxQueued: 100)
            var results: [EnqueueResult] = []
            for i in 0..<5 {
                let m = Message(
                    topic: "t", payload: ByteBuffer(string: "\(i)"), qos: .atLeastOnce, retain: false, maxQueueLength: 3, overflow: overflow
                )
                results.append(queue.enqueue(m, qos: .atLeastOnce, retain: false))
            }
            #expect(results.filter { $0 != .accepted }.count == 2)
            var packets: [OutboundPacket] = []
            queue.nextPackets(into: &packets)
            #expect(packets.compactMap(\.payloadString) == expected)
        }
    }

    /// Through the broker: a policy applies at publish, and a dead letter goes to $DLQ/<topic>.
    @Test func brokerDeadLettersToDLQ() {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters, policies: DeliveryPolicies([DeliveryPolicy(pattern: "work/#", maxDeliveryAttempts: 1)]))
        let inspector = RecordingTarget()
        var packets: [OutboundPacket] = []
        let dlq = broker.openSession(clientId: "dlq", cleanSession: true, owner: inspector, resend: &packets).session
        _ = broker.subscribe(dlq, [.init(filter: "$DLQ/#", qos: .atLeastOnce)])
        let worker = RecordingTarget()
        let session = broker.openSession(clientId: "w", cleanSession: false, owner: worker, resend: &packets).session
        _ = broker.subscribe(session, [.init(filter: "work/#", qos: .atLeastOnce)])
        broker.publish(message("work/a", "poison"))
        session.takePackets(for: worker, into: &packets)
        #expect(packets.count == 1)
        broker.closeSession(session, owner: worker)
        packets.removeAll()
        _ = broker.openSession(clientId: "w", cleanSession: false, owner: RecordingTarget(), resend: &packets)
        #expect(packets.isEmpty, "no second attempt")
        var dead: [OutboundPacket] = []
        dlq.takePackets(for: inspector, into: &dead)
        #expect(dead.first?.topic == "$DLQ/work/a" && dead.first?.payloadString == "poison")
        #expect(counters.messagesDeadLettered == 1)
    }
}
