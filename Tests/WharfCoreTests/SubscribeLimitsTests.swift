import NIOCore
import Testing
import WharfMQTT

@testable import WharfCore

/// `maxFiltersPerSubscribe` and `maxSubscriptionsPerClient`: filters past
/// either get 0x97 Quota exceeded and are not added.
@Suite struct SubscribeLimitsTests {
    private func broker(perPacket: Int = 0, perClient: Int = 0) -> Broker {
        var limits = BrokerLimits()
        limits.maxFiltersPerSubscribe = perPacket
        limits.maxSubscriptionsPerClient = perClient
        return Broker(limits: limits)
    }

    private func connect(_ broker: Broker, _ id: String = "c") -> (Session, RecordingTarget) {
        let target = RecordingTarget()
        var resend: [OutboundPacket] = []
        return (broker.openSession(clientId: id, cleanSession: true, owner: target, resend: &resend).session, target)
    }

    private func take(_ session: Session, _ owner: RecordingTarget) -> [OutboundPacket] {
        var packets: [OutboundPacket] = []
        session.takePackets(for: owner, into: &packets)
        return packets
    }

    private func requests(_ filters: [String], qos: QoS = .atLeastOnce) -> [SubscribePacket.Subscription] {
        filters.map { SubscribePacket.Subscription(filter: $0, qos: qos) }
    }

    private let granted = SubscribeReturnCode(granted: .atLeastOnce)

    /// Filters past the per-packet cap get 0x97 each, in place, and are not added.
    @Test func perPacketCapRefusesTheRest() {
        let broker = broker(perPacket: 3)
        let (session, _) = connect(broker)
        let codes = broker.subscribe(session, requests(["a", "b", "c", "d", "e/#"]))
        #expect(codes == [granted, granted, granted, .quotaExceeded, .quotaExceeded])
        #expect(broker.subscriptionCount == 3)
        #expect(Set(session.subscriptions.map(\.filter)) == ["a", "b", "c"])
        // The next SUBSCRIBE has its own allowance.
        #expect(broker.subscribe(session, requests(["d", "e/#"])) == [granted, granted])
        #expect(broker.subscriptionCount == 5)
    }

    /// The per-packet cap counts positions: an invalid filter inside it
    /// still gets 0x8F, anything past it 0x97, valid or not.
    @Test func perPacketCapCountsPositions() {
        let broker = broker(perPacket: 2)
        let (session, _) = connect(broker)
        let codes = broker.subscribe(session, requests(["a/#/b", "ok", "also/ok", "bad#"]))
        #expect(codes == [.topicFilterInvalid, granted, .quotaExceeded, .quotaExceeded])
        #expect(broker.subscriptionCount == 1)
    }

    /// A filter refused by the per-packet cap leaves the subscription it
    /// would have replaced as it was.
    @Test func perPacketRefusalKeepsTheExistingSubscription() {
        let broker = broker(perPacket: 1)
        let (session, _) = connect(broker)
        _ = broker.subscribe(session, requests(["keep"], qos: .exactlyOnce))
        let codes = broker.subscribe(session, requests(["other", "keep"], qos: .atMostOnce))
        #expect(codes == [SubscribeReturnCode(granted: .atMostOnce), .quotaExceeded])
        #expect(session.subscriptions.first { $0.filter == "keep" }?.qos == .exactlyOnce)
        #expect(broker.subscriptionCount == 2)
    }

    /// New filters past the per-client cap get 0x97 and are not added, in
    /// the trie or the session.
    @Test func perClientCapRefusesNewFilters() {
        let broker = broker(perClient: 2)
        let (session, _) = connect(broker)
        #expect(broker.subscribe(session, requests(["a", "b", "c"])) == [granted, granted, .quotaExceeded])
        #expect(broker.subscribe(session, requests(["d/+"])) == [.quotaExceeded])
        #expect(broker.subscriptionCount == 2)
        #expect(session.subscriptions.count == 2)
        #expect(broker.publish(message("c")) == 0)
        // Another client has its own allowance.
        let (other, _) = connect(broker, "other")
        #expect(broker.subscribe(other, requests(["c", "d/+"])) == [granted, granted])
    }

    /// At the cap, subscribing again to a filter the client has is a
    /// replacement, not a new subscription: granted, with the new QoS.
    @Test func resubscribingAtTheCapIsNotRefused() {
        let broker = broker(perClient: 2)
        let (session, _) = connect(broker)
        _ = broker.subscribe(session, requests(["a", "b/#"], qos: .atMostOnce))
        let codes = broker.subscribe(session, requests(["b/#", "new", "a"], qos: .exactlyOnce))
        #expect(codes == [SubscribeReturnCode(granted: .exactlyOnce), .quotaExceeded, SubscribeReturnCode(granted: .exactlyOnce)])
        #expect(broker.subscriptionCount == 2)
        #expect(session.subscriptions.allSatisfy { $0.qos == .exactlyOnce })
        // The same filter twice in one packet counts once.
        let (twice, _) = connect(broker, "twice")
        #expect(broker.subscribe(twice, requests(["x", "x", "y", "z"])) == [granted, granted, granted, .quotaExceeded])
    }

    /// Unsubscribing frees a place under the per-client cap; invalid
    /// filters never took one.
    @Test func unsubscribeFreesAPlace() {
        let broker = broker(perClient: 1)
        let (session, _) = connect(broker)
        #expect(broker.subscribe(session, requests(["bad/#/x", "a"])) == [.topicFilterInvalid, granted])
        #expect(broker.subscribe(session, requests(["b"])) == [.quotaExceeded])
        broker.unsubscribe(session, filters: ["a"])
        #expect(broker.subscribe(session, requests(["b"])) == [granted])
    }

    /// Shared subscriptions count toward the per-client cap; a refused one
    /// creates no consumer group.
    @Test func sharedSubscriptionsCount() {
        let broker = broker(perClient: 1)
        let (session, _) = connect(broker)
        #expect(broker.subscribe(session, requests(["$share/g/jobs/#", "plain"])) == [granted, .quotaExceeded])
        #expect(broker.subscribe(session, requests(["$share/h/jobs/#"])) == [.quotaExceeded])
        #expect(broker.allGroups.count == 1)
        #expect(broker.subscriptionCount == 1)  // the group's one entry in the trie
        // Re-joining the same group is a replacement.
        #expect(broker.subscribe(session, requests(["$share/g/jobs/#"])) == [granted])
    }

    /// A refused filter gets no retained messages; an accepted one in the
    /// same packet does.
    @Test func refusedFiltersGetNoRetainedMessages() {
        let broker = broker(perPacket: 1)
        broker.publish(message("r/1", "one", retain: true))
        broker.publish(message("s/1", "two", retain: true))
        let (session, owner) = connect(broker)
        #expect(broker.subscribe(session, requests(["r/#", "s/#"])) == [granted, .quotaExceeded])
        #expect(take(session, owner).compactMap(\.topic) == ["r/1"])
    }

    /// 0 means no limit for both caps.
    @Test func zeroMeansUnlimited() {
        let broker = broker(perPacket: 0, perClient: 0)
        let (session, _) = connect(broker)
        let filters = (0..<3_000).map { "t/\($0)/#" }
        let codes = broker.subscribe(session, requests(filters))
        #expect(codes.count == 3_000)
        #expect(codes.allSatisfy { $0 == granted })
        #expect(broker.subscriptionCount == 3_000)
    }

    /// The defaults are on: a SUBSCRIBE of more filters than the default
    /// per-packet cap is cut there.
    @Test func defaultsAreOn() {
        let defaults = BrokerLimits()
        #expect(defaults.maxFiltersPerSubscribe == 1_000)
        #expect(defaults.maxSubscriptionsPerClient == 10_000)
        let broker = Broker()
        let (session, _) = connect(broker)
        let codes = broker.subscribe(session, requests((0..<1_200).map { "t/\($0)" }))
        #expect(codes.prefix(1_000).allSatisfy { $0 == granted })
        #expect(codes.dropFirst(1_000).allSatisfy { $0 == .quotaExceeded })
        #expect(codes.count == 1_200)
        #expect(broker.subscriptionCount == 1_000)
    }

    /// On the wire: 0x97 in a 5.0 SUBACK, 0x80 in a 3.1.1 one.
    @Test func quotaExceededOnTheWire() throws {
        let suback = MQTTPacket.suback(SubAckPacket(packetId: 7, returnCodes: [granted, .quotaExceeded]))
        var v5 = ByteBuffer()
        suback.encode(into: &v5, version: .v5)
        #expect(Array(v5.readableBytesView.suffix(2)) == [0x01, 0x97])
        var v311 = ByteBuffer()
        suback.encode(into: &v311, version: .v3_1_1)
        #expect(Array(v311.readableBytesView.suffix(2)) == [0x01, 0x80])
    }
}
