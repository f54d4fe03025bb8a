import Testing
import WharfCore
import WharfMQTT

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
