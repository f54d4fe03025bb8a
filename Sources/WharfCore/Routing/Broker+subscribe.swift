import WharfMQTT

extension Broker {
    /// Adds subscriptions and returns one SUBACK code per filter, in order.
    /// Retained messages matching each accepted filter are queued to the
    /// session with RETAIN set (3.1.1 section 3.3.1.3), after the caller has
    /// had the chance to write the SUBACK (they go through the session queue).
    public func subscribe(_ session: Session, _ requests: [SubscribePacket.Subscription]) -> [SubscribeReturnCode] {
        var codes: [SubscribeReturnCode] = []
        codes.reserveCapacity(requests.count)
        var accepted: [(String, QoS)] = []
        for request in requests {
            guard TopicRules.isValidTopicFilter(request.filter), request.filter.topicLevelCount <= limits.maxTopicLevels else {
                codes.append(.failure)
                continue
            }
            codes.append(SubscribeReturnCode(granted: request.qos))
            accepted.append((request.filter, request.qos))
        }
        guard !accepted.isEmpty else { return codes }
        tree.withLock { tree in
            for (filter, qos) in accepted { tree.subscribe(session, filter: filter, qos: qos) }
        }
        for (filter, qos) in accepted { session.recordSubscription(filter, qos: qos) }
        for (filter, qos) in accepted {
            let messages = retained.withLock { $0.matching(filter: filter) }
            for message in messages {
                if session.enqueue(message, qos: min(qos, message.qos), retain: true) == .droppedQueueFull {
                    metrics.messageDropped(.queueFull, count: 1)
                }
            }
        }
        return codes
    }

    public func unsubscribe(_ session: Session, filters: [String]) {
        let known = filters.filter { session.forgetSubscription($0) }
        guard !known.isEmpty else { return }
        tree.withLock { tree in
            for filter in known { tree.unsubscribe(session, filter: filter) }
        }
    }
}
