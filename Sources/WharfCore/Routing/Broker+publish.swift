import NIOCore
import WharfMQTT

extension Broker {
    /// What routing one message did.
    public struct PublishOutcome: Sendable {
        /// Sessions and groups the message was queued for.
        public var queued = 0
        /// Subscriptions (sessions and groups) that matched its topic; 0 is
        /// "no matching subscribers" to a 5.0 publisher.
        public var matched = 0
        /// Queues that refused it at their policy's `max_length` (overflow
        /// reject-new): "quota exceeded" to a 5.0 publisher.
        public var rejectedOverLength = 0
        /// A subscriber queue passed its high-water mark: the publisher must
        /// stop reading until `resumeReading()` is called on it.
        public var pausePublisher = false

        public init() {}
    }

    /// Routes one message to every matching session, and updates the retained
    /// store when RETAIN is set. `scratch` is the caller's reusable buffer
    /// (one per connection), so routing allocates nothing per message.
    /// `publisher` is the connection it came from, for flow control. A
    /// connection counts its publishes in its `TrafficBatch` and passes
    /// `counted: true`; other callers (wills, tests) are counted here.
    ///
    /// A journaled message (`Message.isJournaled`) that a journaled queue
    /// takes (a persistent session's, a group's, at QoS 1/2), or that is
    /// retained, goes to `journal`: the caller commits it and holds the
    /// publisher's acknowledgement until it is durable.
    ///
    /// `exchange` (cluster mode): an inbound QoS 2 exchange's message, which
    /// may be routed again on another node after a crash. Other nodes and
    /// the sessions' queues in the cluster take it once by its identity;
    /// this node's own sessions and groups are skipped if the node has
    /// seen it before (another node forwarded it here).
    @discardableResult
    public func publish(
        _ published: Message, from publisher: (any DeliveryTarget)? = nil, session publisherSession: Session? = nil,
        counted: Bool = false, routes: inout RouteCache
    ) -> PublishOutcome {
        let journal = journal.makeWriter()
        defer { if !journal.isEmpty { journal.commit(whenDurable: nil) } }
        return publish(published, from: publisher, session: publisherSession, counted: counted, routes: &routes, journal: journal)
    }

    @discardableResult
    public func publish(
        _ published: Message, from publisher: (any DeliveryTarget)? = nil, session publisherSession: Session? = nil,
        counted: Bool = false, routes: inout RouteCache, repeatedTopic known: Bool? = nil, journal: any JournalWriter,
        fromCluster: Bool = false, exchange: InboundExchange? = nil
    ) -> PublishOutcome {
        if !counted { metrics.messageReceived(qos: published.qos, payloadBytes: published.payload.readableBytes) }
        // A matching policy gives the message its TTL and attempt limit.
        let message = policies.policy(for: published.topic).map { published.applying($0) } ?? published
        // `known`: the caller already asked `routes.isLast` for this topic.
        let repeatedTopic = known ?? routes.isLast(message.topic)
        guard repeatedTopic || message.topic.topicLevelCount <= limits.maxTopicLevels else {
            metrics.messageDropped(.topicTooDeep, count: 1)
            return PublishOutcome()
        }
        if message.retain, !fromCluster {
            // The store keeps its own compact copy: a slice would pin the
            // whole read buffer it arrived in for as long as it is retained.
            let stored = message.retainedCopy()
            retained.withLock { $0.update(with: stored) }
            // In cluster mode every node's store follows the cluster's.
            clusterLink?.retained(stored, journal: journal)
        }
        // A message no journaled queue takes costs nothing here.
        let journaled = message.isJournaled
        // Drop-oldest removals, journaled after every queue took the message.
        var dropped: [(queue: JournalQueue, message: UInt64)] = []
        defer {
            if journaled {
                if message.retain { journal.retained(message) }
                for (queue, id) in dropped { journal.removed(id, from: queue) }
            }
        }
        tree.withLock { $0.match(topic: message.topic, repeatedTopic: repeatedTopic, cache: &routes) }
        var outcome = PublishOutcome()
        // Delivered here already: only what may still be missing elsewhere goes.
        let deliveredHere = exchange.map { exchangesSeen.isRepeat(topic: "", id: $0.key) } ?? false
        if routes.targets.isEmpty {
            metrics.messageDropped(.noSubscriber, count: 1)
            return outcome
        }
        for target in routes.targets {
            switch target.destination {
            case .group(let group):
                outcome.matched += 1
                if deliveredHere { continue }
                let result = group.enqueue(message, publisher: publisher, publisherSession: publisherSession)
                account(result, in: &outcome)
                if journaled, let queue = group.journalQueue {
                    let droppedId = result.outcome == .acceptedDroppedOldest ? group.lastDroppedJournalId : 0
                    journalOffer(
                        message, qos: message.qos, retain: false, subscriptionIds: .none, result: result, keeps: true,
                        to: queue, droppedId: droppedId, journal: journal, dropped: &dropped)
                }
            case .remote(let node):
                // Another node's subscribers: one copy for all of them, at the
                // highest QoS they were granted. Never back out of the cluster.
                guard !fromCluster, let link = clusterLink else { continue }
                outcome.matched += 1
                link.forward(message, qos: min(message.qos, target.qos), to: node, exchange: exchange, journal: journal)
            case .inbox(let inbox):
                // A persistent session's queue in the cluster: appended to
                // here, once for all its matching filters, wherever it is
                // delivered. A forward was appended where it was published.
                guard !fromCluster, let link = clusterLink else { continue }
                if target.noLocal, let publisherSession, publisherSession.clientId == inbox.clientId { continue }
                outcome.matched += 1
                let qos = min(message.qos, target.qos)
                guard qos != .atMostOnce || inbox.isOnline else {
                    metrics.messageDropped(.offlineQoS0, count: 1)
                    continue
                }
                outcome.queued += 1
                let delivery = InboxDelivery(qos: qos, retain: target.retainAsPublished && message.retain, identifiers: target.identifiers)
                link.append(message, delivery: delivery, to: inbox, exchange: exchange, journal: journal)
            case .remoteGroup(let group):
                // A consumer group's queue in the cluster: one copy for the
                // group, appended here, taken by one member on any node.
                guard !fromCluster, let link = clusterLink else { continue }
                outcome.matched += 1
                account(EnqueueResult(link.append(message, to: group, exchange: exchange, journal: journal)), in: &outcome)
            case .session(let session):
                // 5.0 "no local": not back to the connection that published it.
                if target.noLocal, session === publisherSession { continue }
                outcome.matched += 1
                if deliveredHere { continue }
                let qos = min(message.qos, target.qos)
                let retainFlag = target.retainAsPublished && message.retain
                let result = session.enqueue(
                    message, qos: qos, retain: retainFlag, subscriptionIds: target.identifiers, publisher: publisher
                )
                account(result, in: &outcome)
                if journaled, let queue = session.journalQueue {
                    let droppedId = result.outcome == .acceptedDroppedOldest ? session.lastDroppedJournalId : 0
                    journalOffer(
                        message, qos: qos, retain: retainFlag, subscriptionIds: target.identifiers, result: result,
                        keeps: session.isPersistent, to: queue, droppedId: droppedId, journal: journal, dropped: &dropped)
                }
            }
        }
        return outcome
    }

    /// A journaled queue was offered a journaled message: it took it (QoS
    /// 1/2), and a policy's drop-oldest may have made room by dropping one,
    /// whose removal is journaled after the message's record. `keeps`: the
    /// queue outlives its connection (a session's expiry may have become 0).
    @inline(__always)
    private func journalOffer(
        _ message: Message, qos: QoS, retain: Bool, subscriptionIds: SubscriptionIdentifiers, result: EnqueueResult, keeps: Bool,
        to queue: JournalQueue, droppedId: UInt64, journal: any JournalWriter,
        dropped: inout [(queue: JournalQueue, message: UInt64)]
    ) {
        if result.isAccepted, qos != .atMostOnce, keeps {
            journal.taken(message, by: queue, qos: qos, retain: retain, subscriptionIds: subscriptionIds)
        }
        if droppedId != 0 { dropped.append((queue, droppedId)) }
    }

    /// One queue's enqueue result in the publish outcome and the drop
    /// counters: where routing results become figures.
    @inline(__always)
    func account(_ result: EnqueueResult, in outcome: inout PublishOutcome) {
        if result.isAccepted { outcome.queued += 1 }
        if result.pausePublisher { outcome.pausePublisher = true }
        if result.outcome == .droppedMaxLength { outcome.rejectedOverLength += 1 }
        countDrops(result, offline: .offlineQoS0)
    }

    /// Counts what an enqueue dropped, for every path that enqueues.
    /// `offline`: what a refusal by an offline session counts as there (nil:
    /// not a drop, as for `$SYS` updates and retained messages on subscribe).
    @inline(__always)
    func countDrops(_ result: EnqueueResult, offline: DropReason?) {
        switch result.outcome {
        case .accepted: break
        case .acceptedDroppedOldest, .droppedMaxLength: metrics.messageDropped(.maxLength, count: 1)
        case .droppedQueueFull: metrics.messageDropped(.queueFull, count: 1)
        case .droppedOffline: if let offline { metrics.messageDropped(offline, count: 1) }
        case .deniedByAccess: metrics.authorizationDenied(.receive)
        }
    }

    /// Publishes a message the broker itself makes (`$SYS`): routed and
    /// retained like any other, but not counted as a message received from a
    /// client, and no drop is counted when nobody subscribes.
    public func publishSystem(_ message: Message) {
        retained.withLock { $0.update(with: message) }
        var targets: [RouteTarget] = []
        tree.withLock { $0.match(topic: message.topic, into: &targets) }
        for target in targets {
            guard let session = target.session else { continue }  // $SYS is not for consumer groups
            countDrops(session.enqueue(message, qos: min(message.qos, target.qos)), offline: nil)
        }
    }

    /// Sends messages that ran out of delivery attempts to `$DLQ/<topic>`,
    /// where an operator (or a repair consumer) can subscribe to them.
    /// `queue` is the journaled queue they leave (nil for none): the
    /// removal is committed with the dead letter, so a crash keeps one or
    /// the other, never loses both. `stored`, when given, learns whether
    /// the dead letters were stored (cluster mode lets the originals go then).
    func deadLetter(
        _ messages: [(Message, attempts: Int)], from queue: JournalQueue? = nil, stored: (@Sendable (Bool) -> Void)? = nil
    ) {
        let journal = journal.makeWriter()
        for (message, attempts) in messages {
            metrics.messageDeadLettered()
            var routes = RouteCache()
            let letter = message.deadLetter(attempts: attempts, journalId: newJournalId(qos: message.qos, retain: false))
            publish(letter, counted: true, routes: &routes, journal: journal)
            if let queue, message.isJournaled { journal.removed(message.journalId, from: queue) }
        }
        if !journal.isEmpty {
            journal.commit(whenDurable: stored)
        } else {
            stored?(true)
        }
    }

    /// Convenience for callers without a connection (wills, tests): no flow control.
    @discardableResult
    public func publish(_ message: Message) -> Int {
        var routes = RouteCache()
        return publish(message, routes: &routes).queued
    }
}
