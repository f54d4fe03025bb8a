import Synchronization
import Testing
import WharfMQTT

@testable import WharfCore

/// Cluster mode's consumer groups in the core: the group's queue is the
/// cluster's (`RemoteGroup` in the tree, one append per publish), and the
/// group here serves what its feed pulled, telling the feed what became
/// of each message (`GroupFeed`). The feed here records; the e2e tests
/// (test_54) run the real one over JetStream.
@Suite struct ClusterGroupFeedTests {
    final class RecordingFeed: GroupFeed {
        let acked = Mutex<[String]>([])
        let expired = Mutex<[String]>([])
        let handedBack = Mutex<[(payload: String, delay: UInt64)]>([])
        let rooms = Mutex<[Int]>([])
        func settled(_ messages: [Message], expired isExpired: Bool) {
            let payloads = messages.map { String(buffer: $0.payload) }
            if isExpired { expired.withLock { $0 += payloads } } else { acked.withLock { $0 += payloads } }
        }
        func handedBack(_ messages: [Message], afterNanos delayNanos: UInt64) {
            handedBack.withLock { $0 += messages.map { (String(buffer: $0.payload), delayNanos) } }
        }
        func roomChanged(_ room: Int) { rooms.withLock { $0.append(room) } }
        var lastRoom: Int? { rooms.withLock { $0.last } }
    }

    private func member(_ broker: Broker, _ id: String, receiveMaximum: Int = 20, persistent: Bool = false)
        -> (Session, RecordingTarget)
    {
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        let session = broker.openSession(
            clientId: id, cleanSession: !persistent, expiryInterval: persistent ? 3600 : 0, receiveMaximum: receiveMaximum,
            owner: owner, resend: &packets
        ).session
        return (session, owner)
    }

    private func drain(_ session: Session, _ owner: RecordingTarget) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        session.takePackets(for: owner, into: &packets)
        return packets
    }

    private func clustered(_ policies: DeliveryPolicies = DeliveryPolicies([])) -> (Broker, ClusterInboxRoutingTests.RecordingLink) {
        var delivery = DeliverySettings()
        delivery.retryBackoffMinimum = 1
        delivery.retryBackoffMaximum = 1
        let broker = Broker(policies: policies, delivery: delivery)
        let link = ClusterInboxRoutingTests.RecordingLink()
        _ = broker.attachCluster(link)
        return (broker, link)
    }

    private func group(_ broker: Broker) -> (ConsumerGroup, RecordingFeed) {
        let group = broker.allGroups[0]
        return (group, group.feed as! RecordingFeed)
    }

    /// A publish reaches the group's queue in the cluster once, not the
    /// members here: they get what the feed pulls.
    @Test func aPublishIsAppendedToTheGroupsQueueNotDeliveredHere() {
        let (broker, link) = clustered()
        let (session, owner) = member(broker, "m")
        _ = broker.subscribe(session, [.init(filter: "$share/g/jobs/#", qos: .atLeastOnce)])
        #expect(link.groupsOpened.withLock { $0 } == ["g"])
        #expect(link.interest.withLock { $0 }.isEmpty, "no node route for the group's filter: its queue is routed instead")
        broker.addGroupRoute(RemoteGroup(name: "g", filter: "jobs/#"))
        _ = broker.publish(message("jobs/1", "one"))
        #expect(link.groupAppends.withLock { $0.map(\.topic) } == ["jobs/1"])
        #expect(drain(session, owner).isEmpty, "nothing reaches a member but through the feed")
    }

    /// The room told to the feed is the members' free windows less what
    /// waits; pulled messages go to members, and their acks to the feed.
    @Test func pulledMessagesGoToMembersAndTheirAcksToTheFeed() throws {
        let (broker, _) = clustered()
        let (a, aOwner) = member(broker, "a", receiveMaximum: 2)
        let (b, bOwner) = member(broker, "b", receiveMaximum: 3)
        _ = broker.subscribe(a, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        let (group, feed) = group(broker)
        #expect(feed.lastRoom == 2)
        _ = broker.subscribe(b, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        #expect(feed.lastRoom == 5)
        for i in 0..<4 { group.enqueuePulled(message("jobs", "\(i)"), attempts: 0) }
        #expect(feed.lastRoom == 1)
        let toA = drain(a, aOwner)
        let toB = drain(b, bOwner)
        #expect(toA.count + toB.count == 4)
        #expect(toA.count == 2 && toB.count == 2, "the most free window first")
        let firstId = try #require(toA.first?.packetId)
        let done = try #require(a.acknowledge(firstId, from: aOwner))
        done.group?.acknowledged(done.message)
        #expect(feed.acked.withLock { $0 } == [toA[0].payloadString])
        #expect(feed.lastRoom == 2)
    }

    /// A member that goes offline holding messages: with no other member
    /// online here, they go back to the cluster's queue at once.
    @Test func whatAnOfflineMemberHeldGoesBackWhenNobodyHereCanTakeIt() {
        let (broker, _) = clustered()
        let (a, aOwner) = member(broker, "a", persistent: true)
        _ = broker.subscribe(a, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        let (group, feed) = group(broker)
        for i in 0..<3 { group.enqueuePulled(message("jobs", "\(i)"), attempts: 0) }
        #expect(drain(a, aOwner).count == 3)
        broker.closeSession(a, owner: aOwner)  // offline, still a member
        #expect(feed.handedBack.withLock { $0.map(\.payload).sorted() } == ["0", "1", "2"])
        #expect(feed.handedBack.withLock { $0.allSatisfy { $0.delay == 0 } })
        #expect(feed.lastRoom == 0)
    }

    /// A refusal goes back to the cluster's queue with the backoff as its
    /// delay; attempts made on other nodes count: the last allowed one
    /// dead-letters, and the feed lets the message go once the letter is in.
    @Test func refusalsGoBackWithTheirBackoffAndAttemptsCountAcrossNodes() throws {
        let policies = DeliveryPolicies([DeliveryPolicy(pattern: "jobs", maxDeliveryAttempts: 3)])
        let (broker, _) = clustered(policies)
        let (a, aOwner) = member(broker, "a")
        let (dlq, dlqOwner) = member(broker, "dlq")
        _ = broker.subscribe(a, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        _ = broker.subscribe(dlq, [.init(filter: "$DLQ/#", qos: .atLeastOnce)])
        let (group, feed) = group(broker)
        group.enqueuePulled(broker.applyingPolicy(message("jobs", "first")), attempts: 0)
        let once = try #require(drain(a, aOwner).first?.packetId)
        let refused = try #require(a.reject(once, from: aOwner))
        broker.rejected(refused, by: a)
        #expect(feed.handedBack.withLock { $0.map(\.payload) } == ["first"])
        #expect(feed.handedBack.withLock { $0[0].delay } > 0, "after the backoff")

        // Delivered twice before, elsewhere: this third refusal is the last.
        group.enqueuePulled(broker.applyingPolicy(message("jobs", "poison")), attempts: 2)
        let third = try #require(drain(a, aOwner).first?.packetId)
        let refusedAgain = try #require(a.reject(third, from: aOwner))
        broker.rejected(refusedAgain, by: a)
        #expect(drain(dlq, dlqOwner).compactMap(\.topic) == ["$DLQ/jobs"])
        #expect(feed.acked.withLock { $0 } == ["poison"], "dead-lettered, so done with")
        #expect(feed.handedBack.withLock { $0.count } == 1, "not handed back again")
    }

    /// A message past its TTL when pulled reaches no member; the feed hears
    /// it expired.
    @Test func anExpiredMessageIsSettledAsExpired() {
        let (broker, _) = clustered()
        let (a, aOwner) = member(broker, "a")
        _ = broker.subscribe(a, [.init(filter: "$share/g/jobs", qos: .atLeastOnce)])
        let (group, feed) = group(broker)
        let old = Message(
            topic: "jobs", payload: .init(string: "old"), qos: .atLeastOnce, retain: false, publishedAtNanos: 1, expiresAtNanos: 2)
        group.enqueuePulled(old, attempts: 0)
        #expect(drain(a, aOwner).isEmpty)
        #expect(feed.expired.withLock { $0 } == ["old"])
    }

    /// A member's session ends holding a QoS 2 delivery past PUBREC (or
    /// goes to another node): the group no longer counts it as out with
    /// the member, and the feed gets it back (the real one lets go only of
    /// what it still holds: one a session's record keeps was settled at
    /// PUBREC).
    @Test func aDiscardedMembersDeliveriesLeaveTheGroupsCount() throws {
        let (broker, _) = clustered()
        let (a, aOwner) = member(broker, "a", persistent: true)
        let (b, _) = member(broker, "b")
        _ = broker.subscribe(a, [.init(filter: "$share/g/jobs", qos: .exactlyOnce)])
        let (group, feed) = group(broker)
        group.enqueuePulled(Message(topic: "jobs", payload: .init(string: "x"), qos: .exactlyOnce, retain: false), attempts: 0)
        let sent = drain(a, aOwner)
        // A second member keeps the group open once a goes.
        _ = broker.subscribe(b, [.init(filter: "$share/g/jobs", qos: .exactlyOnce)])
        let pid = try #require(sent.first?.packetId)
        #expect(a.received(pid, from: aOwner) != nil)
        broker.closeSession(a, owner: aOwner)
        #expect(group.snapshot(now: 0).inflight == 1, "past PUBREC it stays with the offline member")
        #expect(feed.handedBack.withLock { $0.isEmpty })
        broker.endSession(a)
        #expect(group.snapshot(now: 0).inflight == 0)
        #expect(feed.handedBack.withLock { $0.map(\.payload) } == ["x"])
    }
}
