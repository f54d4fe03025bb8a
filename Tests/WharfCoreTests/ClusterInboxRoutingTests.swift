import NIOCore
import Synchronization
import Testing
import WharfCore
import WharfMQTT

/// Cluster mode's persistent sessions in the core: their subscriptions route
/// to their queues in the cluster (`RemoteInbox`), not to the session here,
/// and what the cluster queue hands back is held until it is acknowledged.
@Suite struct ClusterInboxRoutingTests {
    /// A link that records what the broker asked of it.
    final class RecordingLink: ClusterLink {
        let appended = Mutex<[(clientId: String, topic: String, delivery: InboxDelivery)]>([])
        let exchanges = Mutex<[InboundExchange?]>([])
        let forwarded = Mutex<[(node: String, exchange: InboundExchange?)]>([])
        let interest = Mutex<[String]>([])
        func forward(_ message: Message, qos: QoS, to node: RemoteNode, exchange: InboundExchange?, journal: any JournalWriter) {
            forwarded.withLock { $0.append((node.name, exchange)) }
        }
        func localInterestChanged(_ filter: String, maxQoS: QoS?, journal: (any JournalWriter)?) {
            interest.withLock { $0.append(filter) }
        }
        func retained(_ message: Message, journal: any JournalWriter) {}
        func append(
            _ message: Message, delivery: InboxDelivery, to inbox: RemoteInbox, exchange: InboundExchange?, journal: any JournalWriter
        ) {
            appended.withLock { $0.append((inbox.clientId, message.topic, delivery)) }
            exchanges.withLock { $0.append(exchange) }
        }
        let groupAppends = Mutex<[(group: String, topic: String)]>([])
        let groupsOpened = Mutex<[String]>([])
        func append(_ message: Message, to group: RemoteGroup, exchange: InboundExchange?, journal: any JournalWriter)
            -> EnqueueResult.Outcome
        {
            groupAppends.withLock { $0.append((group.name, message.topic)) }
            return .accepted
        }
        func groupOpened(_ group: ConsumerGroup) {
            group.attach(ClusterGroupFeedTests.RecordingFeed())
            groupsOpened.withLock { $0.append(group.name) }
        }
        func groupClosed(_ group: ConsumerGroup) {
            groupsOpened.withLock { $0.removeAll { $0 == group.name } }
        }
    }

    static func routedSession(_ broker: Broker, _ id: String, owner: RecordingTarget) -> Session {
        var resend: [OutboundPacket] = []
        return broker.openSession(clientId: id, cleanSession: false, owner: owner, routedByCluster: true, resend: &resend).session
    }

    @Test func aRoutedSessionsSubscriptionsReachItsQueueInTheClusterOnly() {
        let broker = Broker()
        let link = RecordingLink()
        _ = broker.attachCluster(link)
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        let request = SubscribePacket.Subscription(filter: "cmd/#", qos: .atLeastOnce, noLocal: true)
        #expect(broker.subscribe(device, [request]) == [SubscribeReturnCode(granted: .atLeastOnce)])
        #expect(link.interest.withLock { $0 }.isEmpty, "no node route: every node routes to the queue itself")
        #expect(broker.subscriptionCount == 1, "counted where the session is held")

        // The record's subscription, as every node's watch applies it.
        let inbox = RemoteInbox(clientId: "device")
        broker.addInboxRoute(inbox, request, identifier: 4)
        var routes = RouteCache()
        _ = broker.publish(message("cmd/1", qos: .exactlyOnce), routes: &routes)
        // No local: not back to the session that published it.
        _ = broker.publish(message("cmd/2"), session: device, routes: &routes)
        // QoS 0 is not queued while the session is offline, as on one node.
        _ = broker.publish(message("cmd/3", qos: .atMostOnce), routes: &routes)
        inbox.isOnline = true
        _ = broker.publish(message("cmd/4", qos: .atMostOnce), routes: &routes)
        let appended = link.appended.withLock { $0 }
        #expect(appended.map(\.topic) == ["cmd/1", "cmd/4"])
        #expect(appended.first?.delivery == InboxDelivery(qos: .atLeastOnce, retain: false, identifiers: .one(4)))
        #expect(device.queuedCount == 0, "nothing went to the session here")
        #expect((broker.metrics as? BrokerCounters)?.drops(.offlineQoS0) == 1)

        broker.removeInboxRoute(inbox, filter: "cmd/#")
        _ = broker.publish(message("cmd/5"), routes: &routes)
        #expect(link.appended.withLock { $0.count } == 2)
    }

    @Test func theQueueIsHeldUntilAcknowledgedAndForgottenWhenDiscarded() {
        let broker = Broker()
        _ = broker.attachCluster(RecordingLink())
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        _ = broker.subscribe(device, [SubscribePacket.Subscription(filter: "cmd/#", qos: .atLeastOnce)])
        #expect(device.inboxFloor == 1, "nothing read yet")
        let delivery = InboxDelivery(qos: .atLeastOnce, retain: false)
        for sequence in [10, 11, 12] as [UInt64] {
            broker.deliverFromInbox(message("cmd/\(sequence)"), delivery: delivery, sequence: sequence, to: device)
        }
        #expect(device.lastInboxSequence == 12 && device.inboxFloor == 10)
        var packets: [OutboundPacket] = []
        device.takePackets(for: owner, into: &packets)
        #expect(packets.map(\.topic) == ["cmd/10", "cmd/11", "cmd/12"])
        _ = device.acknowledge(packets[1].packetId!, from: owner)
        #expect(device.inboxFloor == 10, "the oldest unacknowledged one holds the floor")
        _ = device.acknowledge(packets[0].packetId!, from: owner)
        #expect(device.inboxFloor == 12)
        // A message for a subscription gone since only takes its place.
        broker.deliverFromInbox(message("old/1"), delivery: delivery, sequence: 13, to: device, matched: false)
        _ = device.acknowledge(packets[2].packetId!, from: owner)
        #expect(device.inboxFloor == 14 && device.queuedCount == 0)

        broker.deliverFromInbox(message("cmd/15"), delivery: delivery, sequence: 15, to: device)
        broker.closeSession(device, owner: owner)
        broker.forgetSession("device")
        #expect(device.inboxFloor == nil, "discarded here: its queue is the cluster's, untouched")
        #expect((broker.metrics as? BrokerCounters)?.drops(.sessionDiscarded) == 0)
    }

    /// What the node deletes from the cluster queue: every entry read here
    /// (taken, or passed over) once it is below the floor, oldest first and
    /// each once; a failed delete comes back; nothing once discarded.
    @Test func entriesReadHereAreDeletableOnceBelowTheFloor() {
        let broker = Broker()
        _ = broker.attachCluster(RecordingLink())
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        _ = broker.subscribe(device, [SubscribePacket.Subscription(filter: "cmd/#", qos: .atLeastOnce)])
        #expect(device.takeDeletableInboxEntries(limit: 10)?.sequences == [], "nothing read yet")
        let delivery = InboxDelivery(qos: .atLeastOnce, retain: false)
        for sequence in [20, 22, 24] as [UInt64] {
            broker.deliverFromInbox(message("cmd/\(sequence)"), delivery: delivery, sequence: sequence, to: device)
        }
        broker.deliverFromInbox(message("old/1"), delivery: delivery, sequence: 25, to: device, matched: false)
        var packets: [OutboundPacket] = []
        device.takePackets(for: owner, into: &packets)
        #expect(device.takeDeletableInboxEntries(limit: 10)?.sequences == [], "all held: none acknowledged")

        _ = device.acknowledge(packets[0].packetId!, from: owner)
        _ = device.acknowledge(packets[2].packetId!, from: owner)
        let first = device.takeDeletableInboxEntries(limit: 10)
        #expect(first?.sequences == [20] && first?.floor == 22, "24 is acknowledged, but above 22, still held")
        #expect(device.takeDeletableInboxEntries(limit: 10)?.sequences == [], "taken once")

        _ = device.acknowledge(packets[1].packetId!, from: owner)
        let limited = device.takeDeletableInboxEntries(limit: 2)
        #expect(limited?.sequences == [22, 24], "at most the limit")
        #expect(limited?.floor == 25, "they reach as far as 25, left for the next round, not to the floor")
        device.returnDeletableInboxEntries([22])
        #expect(device.takeDeletableInboxEntries(limit: 10)?.sequences == [22, 25], "a failed delete comes back first")

        broker.deliverFromInbox(message("cmd/30"), delivery: delivery, sequence: 30, to: device)
        broker.closeSession(device, owner: owner)
        broker.forgetSession("device")
        #expect(device.takeDeletableInboxEntries(limit: 10) == nil, "discarded: the next node reads and deletes")
    }

    /// Entries another node may have sent (up to the grant's
    /// `resendThrough`) go out with DUP the first time here; later ones,
    /// and QoS 0 (which never carries DUP), without. Once in flight here,
    /// the session's own resend after a reconnect sets DUP as always.
    @Test func entriesAnotherNodeMayHaveSentCarryDup() {
        let broker = Broker()
        _ = broker.attachCluster(RecordingLink())
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        _ = broker.subscribe(device, [SubscribePacket.Subscription(filter: "cmd/#", qos: .atLeastOnce)])
        device.markMaybeSent(through: 21)
        for sequence in [20, 21, 22] as [UInt64] {
            broker.deliverFromInbox(
                message("cmd/\(sequence)"), delivery: InboxDelivery(qos: .atLeastOnce, retain: false), sequence: sequence, to: device)
        }
        broker.deliverFromInbox(message("cmd/q0"), delivery: InboxDelivery(qos: .atMostOnce, retain: false), sequence: 21, to: device)
        var packets: [OutboundPacket] = []
        device.takePackets(for: owner, into: &packets)
        #expect(packets.map(\.topic) == ["cmd/20", "cmd/21", "cmd/22", "cmd/q0"])
        #expect(packets.map(\.isDup) == [true, true, false, false])
        #expect(device.highestSentInboxSequence == 22)
        _ = device.acknowledge(packets[2].packetId!, from: owner)
        #expect(device.highestSentInboxSequence == 21)
    }

    /// Deliveries another node took past PUBREC are held here from the
    /// claim, before the reader has read anything: the queue is not purged
    /// up to them, since the entries before them may be ones that node
    /// sent and never had acknowledged.
    @Test func releasedDeliveriesDoNotRaiseTheFloorPastWhatWasRead() {
        let broker = Broker()
        _ = broker.attachCluster(RecordingLink())
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        _ = broker.subscribe(device, [SubscribePacket.Subscription(filter: "cmd/#", qos: .exactlyOnce)])
        let restored = device.restoreReleased([ClusterReleasedDelivery(packetId: 7, sequence: 572)])
        #expect(restored.map(\.packetId) == [7] && device.inflightCount == 1)
        #expect(device.inboxFloor == 1, "nothing read: the entries before 572 are still unacknowledged")
        let delivery = InboxDelivery(qos: .exactlyOnce, retain: false)
        broker.deliverFromInbox(message("cmd/560", qos: .exactlyOnce), delivery: delivery, sequence: 560, to: device)
        #expect(device.inboxFloor == 560)
        #expect(device.holdsInboxSequence(572), "572 goes out as PUBREL, not again")
    }

    /// A delivery another connection completed (PUBCOMP) is passed over once
    /// by the reader, with no packet id held for it: the client may have
    /// reused the id, and nothing about it is sent.
    @Test func completedDeliveriesArePassedOverWithoutHoldingTheirIds() {
        let broker = Broker()
        _ = broker.attachCluster(RecordingLink())
        let owner = RecordingTarget()
        let device = Self.routedSession(broker, "device", owner: owner)
        device.restoreCompleted([30, 32])
        #expect(device.inflightCount == 0)
        #expect(device.holdsInboxSequence(30) && !device.holdsInboxSequence(30), "passed over once")
        #expect(!device.holdsInboxSequence(31))
        #expect(device.holdsInboxSequence(32))
    }

    @Test func persistentSessionsRestoredBeforeTheClusterAttachedLeaveTheTree() {
        let broker = Broker()
        let owner = RecordingTarget()
        var resend: [OutboundPacket] = []
        let kept = broker.openSession(clientId: "kept", cleanSession: false, owner: owner, resend: &resend).session
        _ = broker.subscribe(kept, [SubscribePacket.Subscription(filter: "a", qos: .atLeastOnce)])
        let link = RecordingLink()
        #expect(broker.attachCluster(link).isEmpty, "its filter is not this node's interest")
        #expect(kept.isRoutedByCluster)
        var routes = RouteCache()
        #expect(broker.publish(message("a"), routes: &routes).matched == 0)
    }

    /// A node restarting in cluster mode restores its sessions before the
    /// cluster attaches: the groups they join are the cluster's, opened by
    /// the link, not groups of the node's own fed by the tree.
    @Test func groupsJoinedBeforeTheClusterAttachedAreTheClusters() {
        let broker = Broker()
        broker.expectCluster()
        let owner = RecordingTarget()
        var resend: [OutboundPacket] = []
        let member = broker.openSession(clientId: "member", cleanSession: false, owner: owner, resend: &resend).session
        _ = broker.subscribe(member, [SubscribePacket.Subscription(filter: "$share/workers/jobs/#", qos: .atLeastOnce)])
        let link = RecordingLink()
        #expect(broker.attachCluster(link).isEmpty, "the group's filter is not this node's own interest")
        // As `ClusterNode.attach` does next.
        for group in broker.groupsBeforeCluster { link.groupOpened(group) }
        #expect(link.groupsOpened.withLock { $0 } == ["workers"])
        var routes = RouteCache()
        #expect(broker.publish(message("jobs/1"), routes: &routes).matched == 0, "no group of this node's own takes it")
    }

    /// An inbound QoS 2 exchange routed again (its publisher sent it again
    /// on another node after a crash) reaches the cluster's queues and
    /// other nodes under its identity every time, so they can take it once;
    /// this node's own sessions get it only the first time.
    @Test func anExchangeRoutedAgainSkipsWhatThisNodeDeliveredAlready() {
        let broker = Broker()
        let link = RecordingLink()
        _ = broker.attachCluster(link)
        let reader = RecordingTarget()
        var resend: [OutboundPacket] = []
        let local = broker.openSession(clientId: "reader", cleanSession: true, owner: reader, resend: &resend).session
        _ = broker.subscribe(local, [SubscribePacket.Subscription(filter: "orders/#", qos: .exactlyOnce)])
        broker.addInboxRoute(
            RemoteInbox(clientId: "durable"), SubscribePacket.Subscription(filter: "orders/#", qos: .exactlyOnce), identifier: 0)
        broker.addRemoteRoute(RemoteNode(name: "b"), filter: "orders/#", qos: .exactlyOnce)

        let exchange = InboundExchange(clientId: "pub", epoch: 3, serial: 1)
        var routes = RouteCache()
        let journal = broker.journal.makeWriter()
        for _ in 0..<2 {
            _ = broker.publish(message("orders/1", qos: .exactlyOnce), routes: &routes, journal: journal, exchange: exchange)
        }
        #expect(local.queuedCount == 1, "delivered here once")
        #expect(link.exchanges.withLock { $0 } == [exchange, exchange], "the queue in the cluster is asked twice, under one identity")
        #expect(link.forwarded.withLock { $0.map(\.exchange) } == [exchange, exchange])

        // A forward of an exchange this node routed itself is not delivered again.
        _ = broker.publishFromCluster(message("orders/1", qos: .exactlyOnce), exchange: exchange.key, routes: &routes)
        #expect(local.queuedCount == 1)
        // Another exchange is another message.
        let other = InboundExchange(clientId: "pub", epoch: 3, serial: 2)
        _ = broker.publishFromCluster(message("orders/2", qos: .exactlyOnce), exchange: other.key, routes: &routes)
        _ = broker.publishFromCluster(message("orders/2", qos: .exactlyOnce), exchange: other.key, routes: &routes)
        #expect(local.queuedCount == 2)
        // Without an exchange nothing is held back.
        _ = broker.publish(message("orders/3", qos: .exactlyOnce), routes: &routes)
        _ = broker.publish(message("orders/3", qos: .exactlyOnce), routes: &routes)
        #expect(local.queuedCount == 4)
    }
}
