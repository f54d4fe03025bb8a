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
    @discardableResult
    public func publish(
        _ published: Message, from publisher: (any DeliveryTarget)? = nil, session publisherSession: Session? = nil,
        counted: Bool = false, scratch: inout [RouteTarget]
    ) -> PublishOutcome {
        if !counted { metrics.messageReceived(qos: published.qos, payloadBytes: published.payload.readableBytes) }
        // A matching policy gives the message its TTL and attempt limit.
        let message = policies.policy(for: published.topic).map { published.applying($0) } ?? published
        guard message.topic.topicLevelCount <= limits.maxTopicLevels else {
            metrics.messageDropped(.topicTooDeep, count: 1)
            return PublishOutcome()
        }
        if message.retain {
            // The store keeps its own compact copy: a slice would pin the
            // whole read buffer it arrived in for as long as it is retained.
            let stored = message.retainedCopy()
            retained.withLock { $0.update(with: stored) }
        }
        scratch.removeAll(keepingCapacity: true)
        tree.withLock { $0.match(topic: message.topic, into: &scratch) }
        var outcome = PublishOutcome()
        if scratch.isEmpty {
            metrics.messageDropped(.noSubscriber, count: 1)
            return outcome
        }
        for target in scratch {
            let session: Session
            switch target.destination {
            case .group(let group):
                outcome.matched += 1
                switch group.enqueue(message) {
                case .queued: outcome.queued += 1
                case .queuedDroppingOldest:
                    outcome.queued += 1
                    metrics.messageDropped(.maxLength, count: 1)
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
            let result = session.enqueue(
                message, qos: min(message.qos, target.qos), retain: target.retainAsPublished && message.retain,
                subscriptionIds: target.identifiers, publisher: publisher
            )
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
            case .droppedMaxLength:
                outcome.rejectedOverLength += 1
                metrics.messageDropped(.maxLength, count: 1)
            }
        }
        // Release session references promptly; capacity is kept.
        scratch.removeAll(keepingCapacity: true)
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
    func deadLetter(_ messages: [(Message, attempts: Int)]) {
        for (message, attempts) in messages {
            metrics.messageDeadLettered()
            var scratch: [RouteTarget] = []
            publish(message.deadLetter(attempts: attempts), counted: true, scratch: &scratch)
        }
    }

    /// Convenience for callers without a connection (wills, tests): no flow control.
    @discardableResult
    public func publish(_ message: Message) -> Int {
        var scratch: [RouteTarget] = []
        return publish(message, scratch: &scratch).queued
    }
}
