import Testing
import WharfCore
import WharfMQTT

@Suite struct BrokerTests {
    private func connect(_ broker: Broker, _ id: String, clean: Bool = true) -> (Session, RecordingTarget, Broker.OpenedSession) {
        let target = RecordingTarget()
        var resend: [OutboundPacket] = []
        let opened = broker.openSession(clientId: id, cleanSession: clean, owner: target, resend: &resend)
        return (opened.session, target, opened)
    }

    private func take(_ session: Session, _ owner: RecordingTarget) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        session.takePackets(for: owner, into: &packets)
        return packets
    }

    /// A publish reaches every matching subscriber at min(publish QoS, granted QoS), with RETAIN cleared.
    @Test func routesWithQoSDowngrade() {
        let broker = Broker()
        let (a, ta, _) = connect(broker, "a")
        let (b, tb, _) = connect(broker, "b")
        #expect(broker.subscribe(a, [.init(filter: "s/#", qos: .exactlyOnce)]) == [SubscribeReturnCode(granted: .exactlyOnce)])
        _ = broker.subscribe(b, [.init(filter: "s/+", qos: .atMostOnce)])
        #expect(broker.publish(message("s/1", qos: .atLeastOnce, retain: true)) == 2)
        let toA = take(a, ta)
        let toB = take(b, tb)
        #expect(toA.map(\.qos) == [.atLeastOnce])
        #expect(toB.map(\.qos) == [.atMostOnce])
        #expect(!toA[0].retainFlag && !toB[0].retainFlag)
    }

    /// Invalid filters get 0x8F (0x80 on the wire for 3.1.1) while valid ones
    /// in the same SUBSCRIBE are granted.
    @Test func invalidFilterFails() {
        let broker = Broker()
        let (a, _, _) = connect(broker, "a")
        let codes = broker.subscribe(a, [.init(filter: "a/#/b", qos: .atMostOnce), .init(filter: "ok", qos: .atLeastOnce)])
        #expect(codes == [.topicFilterInvalid, SubscribeReturnCode(granted: .atLeastOnce)])
        #expect(broker.subscriptionCount == 1)
    }

    /// Retained messages are delivered on subscribe with RETAIN set, at the lower QoS.
    @Test func retainedOnSubscribe() {
        let broker = Broker()
        broker.publish(message("r/1", "one", qos: .exactlyOnce, retain: true))
        broker.publish(message("r/2", "two", qos: .atMostOnce, retain: true))
        let (a, ta, _) = connect(broker, "a")
        _ = broker.subscribe(a, [.init(filter: "r/#", qos: .atLeastOnce)])
        let packets = take(a, ta)
        #expect(packets.count == 2)
        #expect(packets.allSatisfy { $0.retainFlag })
        #expect(Set(packets.compactMap(\.qos)) == [.atLeastOnce, .atMostOnce])
    }

    /// A persistent session keeps subscriptions and QoS 1 messages while offline; session present on return.
    @Test func persistentSessionSurvivesDisconnect() {
        let broker = Broker()
        let (s, t, first) = connect(broker, "p", clean: false)
        #expect(!first.sessionPresent)
        _ = broker.subscribe(s, [.init(filter: "q", qos: .atLeastOnce)])
        broker.closeSession(s, owner: t)
        broker.publish(message("q", "while-away"))
        broker.publish(message("q", "qos0", qos: .atMostOnce))
        let (again, t2, second) = connect(broker, "p", clean: false)
        #expect(second.sessionPresent)
        #expect(again === s)
        #expect(take(again, t2).map(\.payloadString) == ["while-away"])
    }

    /// Clean session discards the old state, subscriptions included.
    @Test func cleanSessionDiscards() {
        let broker = Broker()
        let (s, t, _) = connect(broker, "p", clean: false)
        _ = broker.subscribe(s, [.init(filter: "q", qos: .atLeastOnce)])
        broker.closeSession(s, owner: t)
        let (_, _, opened) = connect(broker, "p", clean: true)
        #expect(!opened.sessionPresent)
        #expect(broker.subscriptionCount == 0)
        #expect(broker.publish(message("q")) == 0)
    }

    /// A clean session ends with its connection: subscriptions gone, nothing queued.
    @Test func cleanSessionEndsWithConnection() {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters)
        let (s, t, _) = connect(broker, "c")
        _ = broker.subscribe(s, [.init(filter: "q", qos: .atLeastOnce)])
        broker.closeSession(s, owner: t)
        #expect(broker.sessionCount == 0 && broker.subscriptionCount == 0)
        broker.publish(message("q"))
        #expect(counters.drops(.noSubscriber) == 1)
    }

    /// A second connection with the same id is told to take over the first.
    @Test func takeoverReturnsPreviousOwner() {
        let broker = Broker()
        let (_, first, _) = connect(broker, "dup", clean: false)
        let (_, _, opened) = connect(broker, "dup", clean: false)
        #expect(opened.takenOver === first)
        #expect(opened.sessionPresent)
    }

    /// Overflowing an offline session's queue is counted as queue_full.
    @Test func queueOverflowCounted() {
        var limits = BrokerLimits()
        limits.maxQueuedMessages = 3
        let counters = BrokerCounters()
        let broker = Broker(limits: limits, metrics: counters)
        let (s, t, _) = connect(broker, "slow", clean: false)
        _ = broker.subscribe(s, [.init(filter: "q", qos: .atLeastOnce)])
        broker.closeSession(s, owner: t)
        for i in 0..<5 { broker.publish(message("q", "\(i)")) }
        #expect(s.queuedCount == 3)
        #expect(counters.drops(.queueFull) == 2)
        #expect(counters.messagesReceived == 5)
    }

    /// Assigned client ids are unique and prefixed.
    @Test func assignedIds() {
        let broker = Broker()
        let ids = Set((0..<100).map { _ in broker.assignClientId() })
        #expect(ids.count == 100)
        #expect(ids.allSatisfy { $0.hasPrefix("wharf-") })
    }

    /// Every retained message matching a new subscription is sent, even more
    /// than max_queued_messages (3.1.1 section 3.3.1.3, MQTT-3.3.1-6).
    @Test func retainedOnSubscribeIgnoresQueueLimit() {
        var limits = BrokerLimits()
        limits.maxQueuedMessages = 2
        let broker = Broker(limits: limits)
        for i in 0..<5 { broker.publish(message("r/\(i)", "v\(i)", retain: true)) }
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        let session = broker.openSession(clientId: "late", cleanSession: true, owner: owner, resend: &packets).session
        _ = broker.subscribe(session, [.init(filter: "r/+", qos: .atMostOnce)])
        session.takePackets(for: owner, into: &packets)
        #expect(packets.count == 5)
    }

    /// A connection's cached route follows the tree: a subscription made
    /// (or dropped) after a topic was routed applies to its next publish.
    @Test func routeCacheFollowsSubscriptionChanges() {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters)
        var routes = RouteCache()
        let (s, t, _) = connect(broker, "sub")
        #expect(broker.publish(message("a/b", "1", qos: .atMostOnce), routes: &routes).matched == 0)
        _ = broker.subscribe(s, [.init(filter: "a/+", qos: .atMostOnce)])
        #expect(broker.publish(message("a/b", "2", qos: .atMostOnce), routes: &routes).matched == 1)
        #expect(take(s, t).compactMap(\.payloadString) == ["2"])
        _ = broker.unsubscribe(s, filters: ["a/+"])
        #expect(broker.publish(message("a/b", "3", qos: .atMostOnce), routes: &routes).matched == 0)
        #expect(take(s, t).isEmpty)
        #expect(counters.drops(.noSubscriber) == 2)
    }

    /// The cache is keyed by the topic's bytes: another topic is matched afresh.
    @Test func routeCacheIsPerTopic() {
        let broker = Broker()
        var routes = RouteCache()
        let (s, t, _) = connect(broker, "sub")
        _ = broker.subscribe(s, [.init(filter: "a/b", qos: .atMostOnce)])
        #expect(broker.publish(message("a/b", "1", qos: .atMostOnce), routes: &routes).matched == 1)
        #expect(broker.publish(message("a/c", "2", qos: .atMostOnce), routes: &routes).matched == 0)
        #expect(broker.publish(message("a/b", "3", qos: .atMostOnce), routes: &routes).matched == 1)
        #expect(take(s, t).compactMap(\.payloadString) == ["1", "3"])
    }
}
