import Foundation
import Testing
import WharfMQTT

@testable import WharfCore

@Suite struct ConsumerGroupTests {
    private func member(_ broker: Broker, _ id: String, persistent: Bool = false) -> (Session, RecordingTarget) {
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        let session = broker.openSession(clientId: id, cleanSession: !persistent, owner: owner, resend: &packets).session
        return (session, owner)
    }

    private func drain(_ session: Session, _ owner: RecordingTarget) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        session.takePackets(for: owner, into: &packets)
        return packets
    }

    /// `$share/<group>/<filter>` parses; anything else is not shared; bad ones fail.
    @Test func parsing() {
        guard case .success(let shared)? = SharedSubscription.parse("$share/workers/jobs/#") else {
            Issue.record("no parse")
            return
        }
        #expect(shared.group == "workers" && shared.filter == "jobs/#")
        #expect(SharedSubscription.parse("jobs/#") == nil)
        for bad in ["$share/", "$share/g", "$share/g+/x", "$share//x", "$share/g/a/#/b"] {
            guard case .failure? = SharedSubscription.parse(bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }

    /// Each message goes to exactly one member, spread across members with room.
    @Test func eachMessageToOneMember() {
        let broker = Broker()
        let members = (0..<3).map { member(broker, "m\($0)") }
        for (session, _) in members { _ = broker.subscribe(session, [.init(filter: "$share/g/jobs/+", qos: .atLeastOnce)]) }
        for i in 0..<30 { broker.publish(message("jobs/\(i % 4)", "\(i)")) }
        let received = members.map { drain($0.0, $0.1).compactMap(\.payloadString) }
        #expect(received.map(\.count) == [10, 10, 10], "20 in flight each at most; capacity ties go round robin")
        #expect(Set(received.flatMap { $0 }).count == 30)
    }

    /// Members are chosen by free capacity: a 5.0 member with receive
    /// maximum 2 beside one with 6 gets a quarter of a burst, not a half,
    /// and no member ever holds more than its window.
    @Test func choiceFollowsFreeCapacity() {
        let broker = Broker()
        var packets: [OutboundPacket] = []
        let smallOwner = RecordingTarget()
        let small = broker.openSession(
            clientId: "small", cleanSession: true, expiryInterval: 0, receiveMaximum: 2, owner: smallOwner, resend: &packets
        ).session
        let largeOwner = RecordingTarget()
        let large = broker.openSession(
            clientId: "large", cleanSession: true, expiryInterval: 0, receiveMaximum: 6, owner: largeOwner, resend: &packets
        ).session
        for session in [small, large] { _ = broker.subscribe(session, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)]) }
        for i in 0..<8 { broker.publish(message("jobs", "\(i)")) }
        #expect(drain(small, smallOwner).count == 2)
        #expect(drain(large, largeOwner).count == 6)
    }

    /// A refused (nacked) message comes back after its backoff to another
    /// member, and is dead-lettered once its policy's attempts are used up.
    @Test func nackRedeliversToAnotherMemberThenDeadLetters() throws {
        var delivery = DeliverySettings()
        delivery.retryBackoffMinimum = 1
        delivery.retryBackoffMaximum = 1
        let broker = Broker(policies: DeliveryPolicies([DeliveryPolicy(pattern: "jobs", maxDeliveryAttempts: 2)]), delivery: delivery)
        let (a, aOwner) = member(broker, "a")
        let (b, bOwner) = member(broker, "b")
        let (dlq, dlqOwner) = member(broker, "dlq")
        for session in [a, b] { _ = broker.subscribe(session, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)]) }
        _ = broker.subscribe(dlq, [.init(filter: "$DLQ/#", qos: .atLeastOnce)])
        broker.publish(message("jobs", "poison"))
        let first = drain(a, aOwner) + drain(b, bOwner)
        #expect(first.count == 1)
        let (holder, holderOwner, other, otherOwner) = a.inflightCount == 1 ? (a, aOwner, b, bOwner) : (b, bOwner, a, aOwner)
        let refused = try #require(holder.reject(first[0].packetId!, from: holderOwner))
        let now = Clock.nowNanos()
        broker.rejected(refused, by: holder, now: now)
        broker.runTimers(now: now)  // the backoff has not passed
        #expect(drain(other, otherOwner).isEmpty && broker.scheduledRedeliveryCount == 1)
        broker.runTimers(now: now + 2_000_000_000)
        let again = drain(other, otherOwner)
        #expect(again.compactMap(\.payloadString) == ["poison"], "the other member gets it")
        let second = try #require(other.reject(again[0].packetId!, from: otherOwner))
        broker.rejected(second, by: other)
        let dead = drain(dlq, dlqOwner)
        #expect(dead.compactMap(\.topic) == ["$DLQ/jobs"])
        #expect(drain(holder, holderOwner).isEmpty && drain(other, otherOwner).isEmpty)
    }

    /// Without room anywhere, messages wait in the group; an ack hands out the next.
    @Test func waitsForCapacity() throws {
        var limits = BrokerLimits()
        limits.maxInflightMessages = 2
        let broker = Broker(limits: limits)
        let (session, owner) = member(broker, "solo")
        _ = broker.subscribe(session, [.init(filter: "$share/g/t", qos: .atLeastOnce)])
        for i in 0..<5 { broker.publish(message("t", "\(i)")) }
        var sent = drain(session, owner)
        #expect(sent.compactMap(\.payloadString) == ["0", "1"])
        let group = try #require(broker.allGroups.first)
        #expect(group.snapshot(now: Clock.nowNanos()).depth == 3)
        let done = try #require(session.acknowledge(sent[0].packetId!, from: owner))
        done.group?.acknowledged(done.message)
        sent = drain(session, owner)
        #expect(sent.compactMap(\.payloadString) == ["2"])
        let snapshot = group.snapshot(now: Clock.nowNanos())
        #expect(snapshot.depth == 2 && snapshot.inflight == 2 && snapshot.acknowledgedTotal == 1)
    }

    /// A member that leaves hands back what it had not acknowledged, for another member.
    @Test func leavingMemberReturnsMessages() {
        let broker = Broker()
        let (first, firstOwner) = member(broker, "first")
        _ = broker.subscribe(first, [.init(filter: "$share/g/t", qos: .atLeastOnce)])
        for i in 0..<3 { broker.publish(message("t", "\(i)")) }
        #expect(drain(first, firstOwner).count == 3)
        let (second, secondOwner) = member(broker, "second")
        _ = broker.subscribe(second, [.init(filter: "$share/g/t", qos: .atLeastOnce)])
        broker.closeSession(first, owner: firstOwner)  // gone without acknowledging
        #expect(drain(second, secondOwner).compactMap(\.payloadString) == ["0", "1", "2"])
        #expect(broker.allGroups.first?.snapshot(now: Clock.nowNanos()).redeliveredTotal == 3)
    }

    /// With every member offline (persistent sessions) the group keeps queueing;
    /// when the last member unsubscribes the group goes.
    @Test func durableWhileMembersAreOffline() {
        let broker = Broker()
        let (session, owner) = member(broker, "durable", persistent: true)
        _ = broker.subscribe(session, [.init(filter: "$share/g/t", qos: .atLeastOnce)])
        broker.closeSession(session, owner: owner)
        for i in 0..<4 { broker.publish(message("t", "\(i)")) }
        #expect(broker.allGroups.first?.snapshot(now: Clock.nowNanos()).depth == 4)
        let back = RecordingTarget()
        var resend: [OutboundPacket] = []
        _ = broker.openSession(clientId: "durable", cleanSession: false, owner: back, resend: &resend)
        session.dispatchGroups()
        #expect(drain(session, back).compactMap(\.payloadString) == ["0", "1", "2", "3"])
        broker.unsubscribe(session, filters: ["$share/g/t"])
        #expect(broker.allGroups.isEmpty)
    }

    /// A shared and a plain subscription of the same session are independent.
    @Test func sharedAndPlainAreIndependent() {
        let broker = Broker()
        let (session, owner) = member(broker, "both")
        _ = broker.subscribe(session, [.init(filter: "$share/g/t", qos: .atLeastOnce), .init(filter: "t", qos: .atLeastOnce)])
        broker.publish(message("t", "x"))
        #expect(drain(session, owner).count == 2)
    }
}

/// Publisher flow control for consumer groups: the same pacing a session's
/// queue has, so a healthy group never drops what its publishers sent.
@Suite struct GroupFlowControlTests {
    private let counters = BrokerCounters()

    private func setUp() -> (broker: Broker, member: Session, owner: RecordingTarget, publisher: RecordingTarget) {
        var limits = BrokerLimits()
        limits.maxQueuedMessages = 8
        limits.maxInflightMessages = 1
        let broker = Broker(limits: limits, metrics: counters)
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        // Persistent, so the group keeps queueing while the member is offline.
        let member = broker.openSession(clientId: "m", cleanSession: false, owner: owner, resend: &packets).session
        _ = broker.subscribe(member, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        return (broker, member, owner, RecordingTarget())
    }

    private func publish(_ broker: Broker, _ publisher: RecordingTarget, count: Int) -> [Bool] {
        var routes = RouteCache()
        return (0..<count).map { _ in broker.publish(message("jobs"), from: publisher, routes: &routes).pausePublisher }
    }

    /// Past 3/4 of max_queued_messages the publisher is paused; as the
    /// member acknowledges and the group drains to 1/4 it resumes, and
    /// nothing was dropped.
    @Test func publisherPausedThenResumedAsMembersDrain() throws {
        let (broker, member, owner, publisher) = setUp()
        let paused = publish(broker, publisher, count: 8)  // 1 in flight, 7 waiting in the group
        #expect(paused.contains(true), "paused at the high-water mark")
        #expect(publisher.resumeCalls == 0)
        for _ in 0..<8 {
            var packets: [OutboundPacket] = []
            member.takePackets(for: owner, into: &packets)
            guard let id = packets.last?.packetId, let done = member.acknowledge(id, from: owner) else { break }
            done.group?.acknowledged(done.message)
        }
        #expect(publisher.resumeCalls >= 1, "resumed once the group drained")
        #expect(counters.drops(.queueFull) == 0)
    }

    /// With no member online nobody is held: the group queues up to
    /// max_queued_messages and then drops (counted), and a publisher paused
    /// while the last member was online is released when it goes.
    @Test func noMemberOnlineHoldsNobody() {
        let (broker, member, owner, publisher) = setUp()
        #expect(publish(broker, publisher, count: 8).contains(true))
        member.detach(owner)
        #expect(publisher.resumeCalls == 1, "released when the last member went")
        #expect(!publish(broker, publisher, count: 4).contains(true), "an offline group holds nobody")
        #expect(counters.drops(.queueFull) == 4, "7 waiting + the 1 it held came back = full: all 4 overflow")
    }

    /// A member that takes nothing for a whole pause (its loop having had
    /// the time) is stuck: the publisher is released and the overflow dropped.
    @Test func stuckMembersReleaseThePublisher() {
        let (broker, _, _, publisher) = setUp()
        #expect(publish(broker, publisher, count: 8).contains(true))
        Thread.sleep(forTimeInterval: Double(Session.maxPauseNanos) / 1e9 + 0.05)
        let after = publish(broker, publisher, count: 3)
        #expect(!after.contains(true))
        #expect(publisher.resumeCalls == 1)
        #expect(counters.drops(.queueFull) == 2, "1 in flight + 7 waiting, 3 more: 1 fits, 2 overflow")
    }
}
