import WharfMQTT

extension Broker {
    /// Adds subscriptions and returns one SUBACK code per filter, in order
    /// (an invalid filter gets 0x8F, which 3.1.1 clients see as 0x80).
    /// Retained messages matching each accepted filter are queued to the
    /// session with RETAIN set (3.1.1 section 3.3.1.3; 5.0 retain handling 1
    /// only for a new subscription, 2 never), all of them before this
    /// returns; a connection uses the variant below, which leaves them owed.
    ///
    /// Limits (0x97 Quota exceeded, 0x80 for 3.1.1; the filter is not added
    /// and a subscription it would have replaced stays as it was): filters
    /// past `maxFiltersPerSubscribe` in the packet, and new filters past
    /// `maxSubscriptionsPerClient` for the session. So the work one SUBSCRIBE
    /// does on the loop is the filters it may add (a trie insert each) plus
    /// the retained messages they match (an index walk, see `RetainedStore`).
    public func subscribe(
        _ session: Session, _ requests: [SubscribePacket.Subscription], identifier: UInt32? = nil
    ) -> [SubscribeReturnCode] {
        var backlog = RetainedBacklog()
        let codes = subscribe(session, requests, identifier: identifier, retained: &backlog)
        deliverRetained(&backlog, to: session)
        return codes
    }

    /// `subscribe`, with the retained messages the new subscriptions are owed
    /// left in `backlog` for `deliverRetained`: a connection delivers them
    /// in slices, so one SUBSCRIBE whose filters walk a large retained store
    /// cannot hold its event loop (and every client on it) for long.
    /// A journaled session's subscriptions go to `journal` (the connection's
    /// writer: its SUBACK waits for them), or are committed here without one.
    public func subscribe(
        _ session: Session, _ requests: [SubscribePacket.Subscription], identifier: UInt32? = nil,
        retained backlog: inout RetainedBacklog, journal connectionJournal: (any JournalWriter)? = nil
    ) -> [SubscribeReturnCode] {
        let identifiers = SubscriptionIdentifiers(identifier)
        let journal = connectionJournal ?? self.journal.makeWriter()
        defer { if connectionJournal == nil, !journal.isEmpty { journal.commit(whenDurable: nil) } }
        // A journaled session's SUBACK waits its turn behind what is being made durable.
        if session.journalQueue != nil { connectionJournal?.requireDurableReply() }
        var codes: [SubscribeReturnCode] = []
        codes.reserveCapacity(requests.count)
        let looked = limits.maxFiltersPerSubscribe > 0 ? requests.prefix(limits.maxFiltersPerSubscribe) : requests[...]
        var accepted: [(request: SubscribePacket.Subscription, isNew: Bool)] = []
        for request in looked {
            if let shared = SharedSubscription.parse(request.filter) {
                guard case .success(let subscription) = shared, subscription.filter.topicLevelCount <= limits.maxTopicLevels else {
                    codes.append(.topicFilterInvalid)
                    continue
                }
                guard session.recordSubscription(request.filter, qos: request.qos, limit: limits.maxSubscriptionsPerClient) != .refused
                else {
                    codes.append(.quotaExceeded)
                    continue
                }
                join(session, subscription, qos: request.qos, identifiers: identifiers, as: request.filter, journal: connectionJournal)
                if let queue = session.journalQueue { journal.subscribed(queue, request, identifier: identifier ?? 0) }
                codes.append(SubscribeReturnCode(granted: request.qos))
                continue
            }
            guard TopicRules.isValidTopicFilter(request.filter), request.filter.topicLevelCount <= limits.maxTopicLevels else {
                codes.append(.topicFilterInvalid)
                continue
            }
            let recorded = session.recordSubscription(request.filter, qos: request.qos, limit: limits.maxSubscriptionsPerClient)
            guard recorded != .refused else {
                codes.append(.quotaExceeded)
                continue
            }
            codes.append(SubscribeReturnCode(granted: request.qos))
            accepted.append((request, recorded == .added))
        }
        if looked.count < requests.count {
            codes.append(contentsOf: repeatElement(.quotaExceeded, count: requests.count - looked.count))
        }
        guard !accepted.isEmpty else { return codes }
        // The cluster routes this session's plain subscriptions to its queue
        // there (from the record the connection writes), not this tree.
        if session.isRoutedByCluster {
            for (request, isNew) in accepted {
                if let queue = session.journalQueue { journal.subscribed(queue, request, identifier: identifier ?? 0) }
                guard request.retainHandling == 0 || (request.retainHandling == 1 && isNew) else { continue }
                backlog.append(.init(filter: request.filter, qos: request.qos, identifiers: identifiers))
            }
            return codes
        }
        changeSubscriptions(journal: connectionJournal) { tree in
            for (request, _) in accepted {
                tree.subscribe(
                    RouteTarget(
                        session: session, qos: request.qos, noLocal: request.noLocal,
                        retainAsPublished: request.retainAsPublished, identifiers: identifiers
                    ), filter: request.filter)
            }
        }
        for (request, isNew) in accepted {
            if let queue = session.journalQueue { journal.subscribed(queue, request, identifier: identifier ?? 0) }
            guard request.retainHandling == 0 || (request.retainHandling == 1 && isNew) else { continue }
            backlog.append(.init(filter: request.filter, qos: request.qos, identifiers: identifiers))
        }
        return codes
    }

    /// Queues to `session` the retained messages `backlog` still owes, filter
    /// by filter, until `deadline` (monotonic nanoseconds) has passed; what is
    /// left stays in `backlog`. At least one filter is served per call.
    public func deliverRetained(_ backlog: inout RetainedBacklog, to session: Session, until deadline: UInt64 = .max) {
        let journal = journal.makeWriter()
        defer { if !journal.isEmpty { journal.commit(whenDurable: nil) } }
        // Reused for every filter: one buffer, as large as the largest match.
        var matched: [Message] = []
        while let owed = backlog.next() {
            let now = Clock.nowNanos()
            matched.removeAll(keepingCapacity: true)
            retained.withLock { $0.matching(filter: owed.filter, into: &matched) }
            // Retained messages on subscribe skip the queue limit (the spec
            // requires them all, see `OutboundQueue.enqueue`), so every match
            // is queued and none can be skipped early: the work is what matched.
            for message in matched where !message.isExpired(at: now) {
                let qos = min(owed.qos, message.qos)
                let identifiers = owed.identifiers
                let result = session.enqueue(
                    message, qos: qos, retain: true, onSubscribe: true, subscriptionIds: identifiers
                )
                countDrops(result, offline: nil)
                if result.isAccepted, let queue = session.journalQueue, session.isPersistent,
                    message.isJournaled, qos != .atMostOnce
                {
                    journal.enqueued(message.journalId, by: queue, qos: qos, retain: true, onSubscribe: true, subscriptionIds: identifiers)
                }
            }
            if deadline != .max, Clock.nowNanos() >= deadline { return }
        }
    }

    /// Removes subscriptions; returns, per filter, whether there was one.
    /// A journaled session's removals go to `journal` (the connection's
    /// writer: its UNSUBACK waits for them), or are committed here without one.
    @discardableResult
    public func unsubscribe(_ session: Session, filters: [String], journal connectionJournal: (any JournalWriter)? = nil) -> [Bool] {
        let existed = filters.map { session.forgetSubscription($0) }
        if let queue = session.journalQueue {
            let journal = connectionJournal ?? self.journal.makeWriter()
            for (filter, was) in zip(filters, existed) where was { journal.unsubscribed(queue, filter: filter) }
            // Nothing removed is still an answer to a journaled session's
            // request: it waits behind what is being made durable.
            connectionJournal?.requireDurableReply()
            if connectionJournal == nil, !journal.isEmpty { journal.commit(whenDurable: nil) }
        }
        removeFromRouting(session, filters: zip(filters, existed).filter(\.1).map(\.0), journal: connectionJournal)
        return existed
    }

    /// Takes `session` out of the trie for plain filters and out of its
    /// groups for shared ones (unsubscribe, and a discarded session).
    func removeFromRouting(_ session: Session, filters: [String], journal: (any JournalWriter)? = nil) {
        guard !filters.isEmpty else { return }
        var plain: [String] = []
        for filter in filters {
            if case .success(let shared)? = SharedSubscription.parse(filter) {
                leave(session, shared)
            } else {
                plain.append(filter)
            }
        }
        guard !plain.isEmpty else { return }
        changeSubscriptions(journal: journal) { tree in
            for filter in plain { tree.unsubscribe(session, filter: filter) }
        }
    }

    /// Adds `session` to a consumer group, creating the group (and its one
    /// subscription in the tree) on first use. Retained messages are not sent
    /// to shared subscriptions (MQTT 5.0 section 4.8.2).
    func join(
        _ session: Session, _ shared: SharedSubscription, qos: QoS, identifiers: SubscriptionIdentifiers = .none, as filter: String,
        journal connectionJournal: (any JournalWriter)? = nil
    ) {
        var interest: [(filter: String, maxQoS: QoS?)] = []
        let link = clusterLink
        let clustered = link != nil || clusterLinkStorage.expected
        let (group, isNew): (ConsumerGroup, Bool) = groups.withLock { groups in
            if let existing = groups[shared.key] { return (existing, false) }
            // Cluster mode: the group's queue is the cluster's (`GroupFeed`),
            // and the cluster routes to it; the group here serves its members here.
            let queue = isJournaling && !clustered ? journal.newQueue() : nil
            if let queue { journalAlone { $0.groupCreated(queue, name: shared.group, filter: shared.filter) } }
            let group = makeGroup(name: shared.group, filter: shared.filter, queue: queue)
            groups[shared.key] = group
            if !clustered {
                interest = changeTree { _ = $0.subscribe(RouteTarget(group: group, qos: .exactlyOnce), filter: shared.filter) }
            }
            return (group, true)
        }
        // Outside the locks: telling the cluster may write to its journal.
        if isNew, let link { link.groupOpened(group) }
        reportInterest(interest, journal: connectionJournal)
        session.recordSubscription(filter, qos: qos)
        session.joined(group)
        group.join(session, qos: qos, subscriptionIds: identifiers)
    }

    /// Removes `session` from a group; the group goes when its last member does.
    func leave(_ session: Session, _ shared: SharedSubscription) {
        let (interest, ended) = groups.withLock { groups -> ([(filter: String, maxQoS: QoS?)], ConsumerGroup?) in
            guard let group = groups[shared.key] else { return ([], nil) }
            session.left(group)
            guard group.leave(session) == 0 else { return ([], nil) }
            groups.removeValue(forKey: shared.key)
            if let queue = group.journalQueue { journalAlone { $0.groupEnded(queue) } }
            let interest = changeTree { _ = $0.unsubscribe(group) }
            let lost = group.removeAll()
            if lost > 0 { metrics.messageDropped(.sessionDiscarded, count: lost) }
            return (interest, group)
        }
        // Cluster mode: what it held goes back to the cluster's queue.
        if let ended, ended.feed != nil { clusterLink?.groupClosed(ended) }
        reportInterest(interest, journal: nil)
    }

    /// A consumer group; messages it gives up on are dead-lettered from its queue.
    func makeGroup(name: String, filter: String, queue: JournalQueue?) -> ConsumerGroup {
        ConsumerGroup(
            name: name, filter: filter, maxQueued: limits.maxQueuedMessages, journalQueue: queue,
            deadLetter: { [weak self] dead, stored in
                guard let self else { return }
                self.deadLetter(dead, from: queue, stored: stored)
            },
            expired: { [weak self] in self?.metrics.messageDropped(.expired, count: $0) }
        )
    }

    /// Every consumer group, for the metrics snapshot.
    var allGroups: [ConsumerGroup] {
        groups.withLock { Array($0.values) }
    }
}
