import NIOCore
import WharfMQTT
import WharfStorage

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
    /// A message with a `storageId` that a durable queue takes (a persistent
    /// session's, a group's, at QoS 1/2), or that is retained, is written to
    /// `journal` as one record naming every such queue: the caller submits
    /// the journal and holds the publisher's acknowledgement until it is durable.
    @discardableResult
    public func publish(
        _ published: Message, from publisher: (any DeliveryTarget)? = nil, session publisherSession: Session? = nil,
        counted: Bool = false, routes: inout RouteCache
    ) -> PublishOutcome {
        var journal = StorageBatch(capacity: 0)
        defer { if !journal.isEmpty { storage?.submit(&journal) } }
        return publish(published, from: publisher, session: publisherSession, counted: counted, routes: &routes, journal: &journal)
    }

    @discardableResult
    public func publish(
        _ published: Message, from publisher: (any DeliveryTarget)? = nil, session publisherSession: Session? = nil,
        counted: Bool = false, routes: inout RouteCache, repeatedTopic known: Bool? = nil, journal: inout StorageBatch
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
        if message.retain {
            // The store keeps its own compact copy: a slice would pin the
            // whole read buffer it arrived in for as long as it is retained.
            let stored = message.retainedCopy()
            retained.withLock { $0.update(with: stored) }
        }
        // The record is begun at the first durable queue that takes the
        // message, so a message no durable queue wants costs nothing here.
        let storing = storage != nil && message.storageId != 0
        var durableTargets = 0
        // Drop-oldest removals, written after this message's record closes
        // (a record cannot be written inside another).
        var droppedStored: [(queue: UInt64, message: UInt64)] = []
        defer {
            if durableTargets > 0 {
                journal.endMessage()
            } else if storing, message.retain, message.payload.readableBytes > 0 {
                journal.message(storedForm(message, wallOffset: clockPair()))
            }
            if storing, message.retain {
                journal.retain(topic: message.topic, message: message.payload.readableBytes > 0 ? message.storageId : 0)
            }
            for dropped in droppedStored { journal.remove(queue: dropped.queue, message: dropped.message) }
        }
        tree.withLock { $0.match(topic: message.topic, repeatedTopic: repeatedTopic, cache: &routes) }
        var outcome = PublishOutcome()
        if routes.targets.isEmpty {
            metrics.messageDropped(.noSubscriber, count: 1)
            return outcome
        }
        for target in routes.targets {
            let session: Session
            switch target.destination {
            case .group(let group):
                outcome.matched += 1
                let (result, pause) = group.enqueue(message, publisher: publisher, publisherSession: publisherSession)
                if pause { outcome.pausePublisher = true }
                if storing, group.storageQueue != 0, message.qos != .atMostOnce, result == .queued || result == .queuedDroppingOldest {
                    if durableTargets == 0 { journal.beginMessage(storedForm(message, wallOffset: clockPair())) }
                    journal.addTarget(queue: group.storageQueue, qos: message.qos.rawValue, retain: false)
                    durableTargets += 1
                }
                switch result {
                case .queued: outcome.queued += 1
                case .queuedDroppingOldest:
                    outcome.queued += 1
                    metrics.messageDropped(.maxLength, count: 1)
                    if storage != nil, group.storageQueue != 0 {
                        let dropped = group.lastDroppedStorageId
                        if dropped != 0 { droppedStored.append((group.storageQueue, dropped)) }
                    }
                case .overLength:
                    outcome.rejectedOverLength += 1
                    metrics.messageDropped(.maxLength, count: 1)
                case .queueFull: metrics.messageDropped(.queueFull, count: 1)
                }
                continue
            case .session(let plain):
                session = plain
            }
            // 5.0 "no local": not back to the connection that published it.
            if target.noLocal, session === publisherSession { continue }
            outcome.matched += 1
            let qos = min(message.qos, target.qos)
            let retainFlag = target.retainAsPublished && message.retain
            let result = session.enqueue(
                message, qos: qos, retain: retainFlag, subscriptionIds: target.identifiers, publisher: publisher
            )
            if storing, session.storageQueue != 0, qos != .atMostOnce, session.isPersistent,
                result == .accepted || result == .acceptedPausePublisher || result == .acceptedDroppedOldest
            {
                if durableTargets == 0 { journal.beginMessage(storedForm(message, wallOffset: clockPair())) }
                journal.addTarget(
                    queue: session.storageQueue, qos: qos.rawValue, retain: retainFlag,
                    subscriptionIds: target.identifiers.isEmpty ? [] : target.identifiers.values
                )
                durableTargets += 1
            }
            switch result {
            case .accepted:
                outcome.queued += 1
            case .acceptedPausePublisher:
                outcome.queued += 1
                outcome.pausePublisher = true
            case .droppedOffline:
                metrics.messageDropped(.offlineQoS0, count: 1)
            case .droppedQueueFull:
                metrics.messageDropped(.queueFull, count: 1)
            case .acceptedDroppedOldest:
                outcome.queued += 1
                metrics.messageDropped(.maxLength, count: 1)
                if storage != nil, session.storageQueue != 0 {
                    let dropped = session.lastDroppedStorageId
                    if dropped != 0 { droppedStored.append((session.storageQueue, dropped)) }
                }
            case .droppedMaxLength:
                outcome.rejectedOverLength += 1
                metrics.messageDropped(.maxLength, count: 1)
            }
        }
        return outcome
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
            switch session.enqueue(message, qos: min(message.qos, target.qos)) {
            case .droppedQueueFull: metrics.messageDropped(.queueFull, count: 1)
            default: break
            }
        }
    }

    /// Sends messages that ran out of delivery attempts to `$DLQ/<topic>`,
    /// where an operator (or a repair consumer) can subscribe to them.
    /// `queue` is the stored queue they leave (0 for none): the removal is
    /// written in the same batch as the dead letter, so a crash keeps one
    /// or the other, never loses both.
    func deadLetter(_ messages: [(Message, attempts: Int)], from queue: UInt64 = 0) {
        var journal = StorageBatch(capacity: 0)
        for (message, attempts) in messages {
            metrics.messageDeadLettered()
            var routes = RouteCache()
            let letter = message.deadLetter(attempts: attempts, storageId: newStorageId(qos: message.qos, retain: false))
            publish(letter, counted: true, routes: &routes, journal: &journal)
            if queue != 0, message.storageId != 0 { journal.remove(queue: queue, message: message.storageId) }
        }
        if !journal.isEmpty { storage?.submit(&journal) }
    }

    /// Convenience for callers without a connection (wills, tests): no flow control.
    @discardableResult
    public func publish(_ message: Message) -> Int {
        var routes = RouteCache()
        return publish(message, routes: &routes).queued
    }
}
