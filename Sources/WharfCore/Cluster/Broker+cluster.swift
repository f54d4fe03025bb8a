import WharfMQTT

/// Cluster mode in the broker: attaching the link, other nodes'
/// subscriptions in the tree, this node's interest reported as it changes,
/// and messages that arrive from other nodes.
extension Broker {
    /// Turns cluster mode on: from now every change of this node's interest
    /// goes to `link`. Returns the interest as it is now, for the link to
    /// announce (taken under the same lock, so no change falls between).
    public func attachCluster(_ link: any ClusterLink) -> [(filter: String, maxQoS: QoS)] {
        // Persistent sessions restored from the local log: their queues are
        // the cluster's from now on, so their plain subscriptions leave the tree.
        let persistent = sessions.withLock { store in store.values.filter(\.isPersistent) }
        for session in persistent { routeByCluster(session) }
        return tree.withLock { tree in
            // Written before any remote destination can be in the tree (the
            // link adds them after this returns), and read by publishers only
            // after they matched one under this lock: the lock orders the two.
            clusterLinkStorage.link = link
            tree.tracksLocalInterest = true
            _ = tree.takeInterestChanges()
            return tree.localInterests()
        }
    }

    /// The link, once attached.
    public var clusterLink: (any ClusterLink)? { clusterLinkStorage.link }

    /// Cluster mode, said before the journal is recovered: the consumer
    /// groups restored sessions join are the cluster's from the start (no
    /// queue in this node's log, no route in the tree), and the link opens
    /// them once attached (`groupsBeforeCluster`). Made as a node's own,
    /// such a group took every matching message forwarded here, and the
    /// members that came back to this node got from it and never from the
    /// cluster's queue (a chaos run's QoS 2 duplicates).
    public func expectCluster() {
        clusterLinkStorage.expected = true
    }

    /// The groups restored sessions joined before the link was attached.
    public var groupsBeforeCluster: [ConsumerGroup] { allGroups }

    /// Cluster mode's persistent sessions: CONNECT asks it before opening
    /// one. Set once, before the listener opens.
    public var clusterSessions: (any ClusterSessionDirectory)? {
        get { clusterLinkStorage.sessions }
        set { clusterLinkStorage.sessions = newValue }
    }

    /// Offline sessions held here whose queues are the cluster's: this node
    /// (the one that delivered them last) reports their backlog.
    public var offlineClusterSessions: [Session] {
        sessions.withLock { store in store.values.filter { !$0.isOnline && $0.isRoutedByCluster } }
    }

    /// Client ids of the offline sessions kept here that outlive their
    /// connections (restored from the local log at start, say).
    public var offlinePersistentClientIds: [String] {
        sessions.withLock { store in store.values.filter { $0.isPersistent && !$0.isOnline }.map(\.clientId) }
    }

    /// Drops the will `clientId`'s offline session holds back for its delay
    /// (restored from the local log): in cluster mode the record holds it
    /// too, and the node that takes it there publishes it.
    public func dropPendingWill(_ clientId: String) {
        guard pendingWills.withLock({ $0.removeValue(forKey: ExactString(clientId)) }) != nil else { return }
        journalAlone { $0.willEnded(clientId: clientId) }
    }

    /// Another node took `clientId`'s session over: the copy here is stale.
    /// An offline copy goes (its subscriptions and queue, counted as
    /// `sessionDiscarded`), and its delayed will with it: the will is the
    /// record's now, fired by whoever holds the session. A copy that is
    /// online again (a newer connect here) stays. Returns whether a copy
    /// went.
    @discardableResult
    public func forgetSession(_ clientId: String) -> Bool {
        let key = ExactString(clientId)
        let forgotten = sessions.withLock { store -> Session? in
            guard let session = store[key], !session.isOnline else { return nil }
            store.removeValue(forKey: key)
            return session
        }
        guard let forgotten else { return false }
        expiringSessions.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(forgotten)) }
        let will = pendingWills.withLock { wills -> PendingWill? in
            guard wills[key]?.session == ObjectIdentifier(forgotten) else { return nil }
            return wills.removeValue(forKey: key)
        }
        if will != nil { journalAlone { $0.willEnded(clientId: clientId) } }
        // A queue that is the cluster's went with the session: nothing is lost.
        discard(forgotten, countingLost: !forgotten.isRoutedByCluster)
        return true
    }

    /// Cluster mode: an offline session whose node is gone, adopted here
    /// through its record. The copy here expires it (`expiresInNanos` from
    /// now; nil: never) and reports its backlog, as for a session that went
    /// offline here. Nothing is routed to it here: its queue and its
    /// subscriptions' routes are the cluster's. It joins its consumer
    /// groups (`shared`, its record's shared subscriptions) as an offline
    /// member, as it was on its old node, so that a node with the group
    /// reports the group's backlog. A copy already here (restored from this
    /// node's log) stays as it is.
    public func adoptClusterSession(
        clientId: String, expiryInterval: UInt32, expiresInNanos: UInt64?, shared: [ClusterSessionSubscription] = []
    ) {
        let adopted = sessions.withLock { store -> Session? in
            let key = ExactString(clientId)
            guard store[key] == nil else { return nil }
            let session = Session(
                clientId: clientId, expiryInterval: expiryInterval, maxInflight: limits.maxInflightMessages,
                maxQueued: limits.maxQueuedMessages)
            session.routeByCluster()
            store[key] = session
            return session
        }
        guard let adopted else { return }
        for subscription in shared {
            guard case .success(let group)? = SharedSubscription.parse(subscription.request.filter) else { continue }
            join(
                adopted, group, qos: subscription.request.qos,
                identifiers: SubscriptionIdentifiers(subscription.identifier == 0 ? nil : subscription.identifier),
                as: subscription.request.filter)
        }
        guard let expiresInNanos else { return }
        let deadline = Clock.nowNanos() &+ expiresInNanos
        expiringSessions.withLock { $0[ObjectIdentifier(adopted)] = ExpiringSession(session: adopted, deadline: deadline) }
    }

    /// Makes `session`'s queue the cluster's: its plain subscriptions leave
    /// the tree (the cluster's route to its queue replaces them) and new
    /// ones stay out.
    func routeByCluster(_ session: Session) {
        guard !session.isRoutedByCluster else { return }
        session.routeByCluster()
        let plain = session.subscriptions.map(\.filter).filter { SharedSubscription.parse($0) == nil }
        guard !plain.isEmpty else { return }
        changeSubscriptions(journal: nil) { tree in
            for filter in plain { tree.unsubscribe(session, filter: filter) }
        }
    }

    /// A message read from `session`'s queue in the cluster, at `sequence`
    /// there, into its queue here. `matched` false: the session no longer
    /// has a subscription for it (it was appended before the other node saw
    /// the change); only its place in the queue is taken, so it is purged.
    @discardableResult
    public func deliverFromInbox(
        _ message: Message, delivery: InboxDelivery, sequence: UInt64, to session: Session, matched: Bool = true
    ) -> EnqueueResult? {
        guard matched else {
            session.skipInboxSequence(sequence)
            return nil
        }
        let result = session.enqueue(
            message, qos: delivery.qos, retain: delivery.retain, subscriptionIds: delivery.identifiers, inboxSequence: sequence)
        countDrops(result, offline: .offlineQoS0)
        return result
    }

    /// A persistent session's subscription, from its record in the cluster:
    /// matching messages are appended to its queue there.
    public func addInboxRoute(_ inbox: RemoteInbox, _ subscription: SubscribePacket.Subscription, identifier: UInt32) {
        let target = RouteTarget(
            inbox: inbox, qos: subscription.qos, noLocal: subscription.noLocal, retainAsPublished: subscription.retainAsPublished,
            identifiers: SubscriptionIdentifiers(identifier == 0 ? nil : identifier))
        tree.withLock { _ = $0.subscribe(target, filter: subscription.filter) }
    }

    public func removeInboxRoute(_ inbox: RemoteInbox, filter: String) {
        tree.withLock { _ = $0.unsubscribe(inbox, filter: filter) }
    }

    /// A consumer group with members on some live node: matching messages
    /// are appended to its queue in the cluster, once for the group.
    public func addGroupRoute(_ group: RemoteGroup) {
        tree.withLock { _ = $0.subscribe(RouteTarget(remoteGroup: group), filter: group.filter) }
    }

    public func removeGroupRoute(_ group: RemoteGroup) {
        tree.withLock { _ = $0.unsubscribe(group) }
    }

    /// A message read from a group's queue in the cluster, with the policy
    /// its topic has (attempt limit, TTL), as its publishing node applied
    /// it: the queue's entry carries the message, not the policy.
    public func applyingPolicy(_ message: Message) -> Message {
        policies.policy(for: message.topic).map { message.applying($0) } ?? message
    }

    /// Another node now subscribes to `filter`, wanting up to `qos` (an
    /// update replaces the previous QoS).
    public func addRemoteRoute(_ node: RemoteNode, filter: String, qos: QoS) {
        tree.withLock { _ = $0.subscribe(RouteTarget(remote: node, qos: qos), filter: filter) }
    }

    public func removeRemoteRoute(_ node: RemoteNode, filter: String) {
        tree.withLock { _ = $0.unsubscribe(node, filter: filter) }
    }

    /// Other nodes' subscriptions in the tree now.
    public var remoteRouteCount: Int { tree.withLock { $0.remoteCount } }

    /// Changes the tree (this node's own subscriptions) and tells the cluster
    /// what that did to the node's interest. `journal`: the writer of the
    /// connection whose request it was (its reply waits for the cluster).
    func changeSubscriptions(journal: (any JournalWriter)? = nil, _ change: (inout SubscriptionTree) -> Void) {
        reportInterest(changeTree(change), journal: journal)
    }

    /// Changes the tree under its lock; returns the interest changes for
    /// `reportInterest`, which the caller makes once it holds no lock.
    func changeTree(_ change: (inout SubscriptionTree) -> Void) -> [(filter: String, maxQoS: QoS?)] {
        tree.withLock { tree in
            change(&tree)
            return tree.tracksLocalInterest ? tree.takeInterestChanges() : []
        }
    }

    func reportInterest(_ changes: [(filter: String, maxQoS: QoS?)], journal: (any JournalWriter)?) {
        guard !changes.isEmpty, let link = clusterLink else { return }
        for (filter, qos) in changes { link.localInterestChanged(filter, maxQoS: qos, journal: journal) }
    }

    /// A message another node forwarded: routed to this node's subscribers
    /// only (never forwarded again), and not stored as retained here (the
    /// cluster's retained store tells every node). `routes` belongs to the
    /// caller's thread. `publisher` stands for the other nodes in flow
    /// control: told to stop reading when a subscriber's queue fills, and
    /// to read again when it drains, as a publishing connection is.
    ///
    /// `exchange`: the key of the inbound QoS 2 exchange it belongs to
    /// (`InboundExchange.key`): routed here once, however many nodes
    /// routed it (a publisher that sent it again on another node after a crash).
    @discardableResult
    public func publishFromCluster(
        _ message: Message, from publisher: (any DeliveryTarget)? = nil, exchange: String? = nil, routes: inout RouteCache
    ) -> PublishOutcome {
        if let exchange, exchangesSeen.isRepeat(topic: "", id: exchange) {
            metrics.messageDeduplicated()
            return PublishOutcome()
        }
        let journal = journal.makeWriter()
        defer { if !journal.isEmpty { journal.commit(whenDurable: nil) } }
        // De-duplication across nodes: every node records the ids of what
        // it routes, its own publishers' and other nodes' alike. A repeat
        // sent through another node then meets the first copy on every
        // node that has subscribers for it, and each drops whichever came
        // second: each subscriber gets one.
        if message.forwardedProperties != nil, let id = message.deduplicationId, isRepeat(topic: message.topic, id: id, journal: journal) {
            metrics.messageDeduplicated()
            return PublishOutcome()
        }
        return publish(message, from: publisher, counted: true, routes: &routes, journal: journal, fromCluster: true)
    }

    /// The cluster's retained store changed `message.topic` (an empty
    /// payload clears it): applied to this node's copy.
    public func applyClusterRetained(_ message: Message) {
        let stored = message.retainedCopy()
        retained.withLock { $0.update(with: stored) }
    }
}

/// Holds the link; see `attachCluster` for why a plain stored property is safe.
final class ClusterLinkStorage: @unchecked Sendable {
    var link: (any ClusterLink)?
    /// Set before the journal is recovered (`expectCluster`), read after.
    var expected = false
    /// Set before any connection exists (`BrokerServer.init`), read by them after.
    var sessions: (any ClusterSessionDirectory)?
}
