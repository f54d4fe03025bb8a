import Testing
import WharfMQTT

@testable import WharfCore

/// The receive check in routing: a session's client gets only what its ACL
/// lets it read, subscriptions its grants cover skip the check, and a
/// replaced ACL holds from the next message on.
@Suite struct AuthorizationRoutingTests {
    static let acl = """
        user bob
        topic read sensors/#
        topic deny sensors/secret
        topic read news/#
        """

    /// An offline persistent session for bob subscribed to `filters`: what
    /// routing gives it stays in its queue, where the test counts it.
    static func bob(_ filters: [String], policy: AccessPolicy) -> (Broker, Session, BrokerCounters) {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters, accessPolicy: policy)
        var resend: [OutboundPacket] = []
        let owner = RecordingTarget()
        let opened = broker.openSession(
            clientId: "bob-device", cleanSession: false, owner: owner,
            authorization: ClientAuthorization(policy: policy, username: "bob", clientId: "bob-device"), resend: &resend)
        _ = broker.subscribe(opened.session, filters.map { SubscribePacket.Subscription(filter: $0, qos: .atLeastOnce) })
        broker.closeSession(opened.session, owner: owner)
        return (broker, opened.session, counters)
    }

    @Test func denyWinsAndIsCounted() throws {
        let policy = AccessPolicy(try AccessControlList(text: Self.acl, file: "acl"))
        let (broker, bob, counters) = Self.bob(["sensors/#"], policy: policy)
        broker.publish(message("sensors/temp"))
        broker.publish(message("sensors/secret"))
        #expect(bob.queuedCount == 1)
        #expect(counters.denials(.receive) == 1)
        #expect(
            broker.snapshot(counters: counters, version: "t", startTimeSeconds: 0, nowSeconds: 1, maxConnections: 1)
                .authorizationDeniedTotal?["receive"] == 1)
    }

    @Test func aCoveredSubscriptionNeedsNoCheckAndAReloadHolds() throws {
        let policy = AccessPolicy(try AccessControlList(text: Self.acl, file: "acl"))
        let (broker, bob, counters) = Self.bob(["news/#"], policy: policy)
        broker.publish(message("news/today"))
        #expect(bob.queuedCount == 1)
        // The replaced list no longer grants news: the next message is refused.
        policy.replace(with: try AccessControlList(text: "user bob\ntopic read sensors/#\n", file: "acl"))
        broker.publish(message("news/tomorrow"))
        #expect(bob.queuedCount == 1)
        #expect(counters.denials(.receive) == 1)
    }

    @Test func withoutAnACLNothingIsChecked() {
        let counters = BrokerCounters()
        let broker = Broker(metrics: counters)
        var resend: [OutboundPacket] = []
        let opened = broker.openSession(clientId: "c", cleanSession: false, owner: RecordingTarget(), resend: &resend)
        _ = broker.subscribe(opened.session, [SubscribePacket.Subscription(filter: "#", qos: .atLeastOnce)])
        broker.publish(message("sensors/secret"))
        #expect(opened.session.queuedCount + opened.session.inflightCount == 1)
        #expect(
            broker.snapshot(counters: counters, version: "t", startTimeSeconds: 0, nowSeconds: 1, maxConnections: 1)
                .authorizationDeniedTotal == nil)
    }
}

/// The receive checks a session remembers: answers by exact bytes, the
/// oldest replaced once full.
@Suite struct ReceiveDecisionsTests {
    @Test func remembersByBytesAndReplacesTheOldest() {
        var decisions = ReceiveDecisions()
        decisions.remember("a/1", allowed: true)
        decisions.remember("a/2", allowed: false)
        #expect(decisions.answer(for: String("a/1".utf8.map { Character(UnicodeScalar($0)) })) == true)
        #expect(decisions.answer(for: "a/2") == false)
        #expect(decisions.answer(for: "a/3") == nil)
        // "é" as one scalar and as e + accent are different topics to MQTT.
        decisions.remember("caf\u{E9}", allowed: true)
        #expect(decisions.answer(for: "cafe\u{301}") == nil)
        for index in 0..<ReceiveDecisions.capacity { decisions.remember("b/\(index)", allowed: true) }
        #expect(decisions.answer(for: "a/1") == nil, "the oldest went first")
        #expect(decisions.answer(for: "b/\(ReceiveDecisions.capacity - 1)") == true)
        decisions.forget()
        #expect(decisions.answer(for: "b/0") == nil)
    }
}
