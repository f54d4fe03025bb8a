import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Loop time one turn spends queueing retained messages for a SUBSCRIBE.
    static let defaultRetainedSliceNanos: UInt64 = 2_000_000
    /// The pause between slices, in which the loop serves its other sockets.
    static let retainedYield = TimeAmount.microseconds(500)

    func handleSubscribe(_ subscribe: SubscribePacket, session: Session, context: ChannelHandlerContext) {
        // 5.0 section 3.8.3.1: no local on a shared subscription is a protocol error.
        if let shared = subscribe.subscriptions.first(where: { $0.noLocal && $0.filter.hasPrefix("$share/") }) {
            close(context, because: .protocolError, "no local set on shared subscription \(ReasonString.excerpt(shared.filter))")
            return
        }
        retainedBacklog.remove(filters: subscribe.subscriptions.lazy.map(\.filter))
        var permitted = subscribe.subscriptions
        var denied: [Int] = []
        if authorization != nil {
            // Valid filters the ACL refuses are answered here; the rest go
            // on (an invalid one gets its own code from the broker).
            permitted.removeAll(keepingCapacity: true)
            for (index, request) in subscribe.subscriptions.enumerated() {
                if Self.isValidFilter(request.filter), !authorization!.allowsSubscription(filter: request.filter) {
                    denied.append(index)
                    authorizationDenied(.subscribe, request.filter)
                } else {
                    permitted.append(request)
                }
            }
        }
        var codes = broker.subscribe(
            session, permitted, identifier: subscribe.subscriptionIdentifier, retained: &retainedBacklog, journal: journal
        )
        if let epoch = clusterEpoch, let sessions = broker.clusterSessions {
            let granted = zip(permitted, codes).filter { $0.1.grantedQoS != nil }.map {
                ClusterSessionSubscription($0.0, identifier: subscribe.subscriptionIdentifier ?? 0)
            }
            if !granted.isEmpty {
                sessions.sessionSubscriptionsChanged(
                    clientId: session.clientId, epoch: epoch, subscribed: granted, unsubscribed: [], journal: journal)
            }
        }
        for index in denied { codes.insert(version == .v5 ? .notAuthorized : .failure, at: index) }
        var properties = MQTTProperties()
        if version == .v5, requestProblemInformation {
            properties = subscribeRefusalReason(subscribe.subscriptions, codes)
        }
        writePacket(.suback(SubAckPacket(packetId: subscribe.packetId, returnCodes: codes, properties: properties)))
        deliverRetainedSlice()
    }

    func handleUnsubscribe(_ unsubscribe: UnsubscribePacket, session: Session) {
        retainedBacklog.remove(filters: unsubscribe.filters)
        let existed = broker.unsubscribe(session, filters: unsubscribe.filters, journal: journal)
        if let epoch = clusterEpoch, let sessions = broker.clusterSessions, existed.contains(true) {
            sessions.sessionSubscriptionsChanged(
                clientId: session.clientId, epoch: epoch, subscribed: [],
                unsubscribed: zip(unsubscribe.filters, existed).filter(\.1).map(\.0), journal: journal)
        }
        // 5.0: an invalid filter is 0x8F, as in SUBACK; a valid one never subscribed 0x11.
        let codes =
            version == .v5
            ? zip(unsubscribe.filters, existed).map { filter, was in
                was ? ReasonCode.success : Self.isValidFilter(filter) ? ReasonCode.noSubscriptionExisted : ReasonCode.topicFilterInvalid
            } : []
        writePacket(.unsuback(UnsubAckPacket(packetId: unsubscribe.packetId, reasonCodes: codes)))
    }

    private static func isValidFilter(_ filter: String) -> Bool {
        if case .success? = SharedSubscription.parse(filter) { return true }
        return SharedSubscription.parse(filter) == nil && TopicRules.isValidTopicFilter(filter)
    }

    /// Queues the retained messages new subscriptions are owed, filter by
    /// filter, until `retainedSliceNanos` of loop time have passed (one
    /// filter's matches always go whole: the trie makes that what it
    /// matches); the rest waits for a later turn of the loop, after other
    /// connections' work. A usual SUBSCRIBE is served
    /// whole at once; one whose filters walk a large retained store (a `+`
    /// over thousands of topics, times a thousand filters) no longer holds
    /// the loop for seconds.
    func deliverRetainedSlice() {
        guard let session, let context, !isClosing, !retainedBacklog.isEmpty else { return }
        broker.deliverRetained(&retainedBacklog, to: session, until: Clock.nowNanos() &+ retainedSliceNanos)
        guard !retainedBacklog.isEmpty, !retainedSliceScheduled else { return }
        retainedSliceScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        // Not `execute`: NIO runs tasks until its queue is empty, so a task
        // that queues itself again would starve I/O just the same. A task due
        // a little later lets the loop poll its sockets first.
        context.eventLoop.scheduleTask(in: Self.retainedYield) {
            handler.value.retainedSliceScheduled = false
            handler.value.deliverRetainedSlice()
        }
    }

    /// The SUBACK's reason string: which filters were invalid and which were
    /// over a limit, each list bounded (`ReasonString`).
    private func subscribeRefusalReason(_ requests: [SubscribePacket.Subscription], _ codes: [SubscribeReturnCode]) -> MQTTProperties {
        var invalid: [String] = []
        var refused: [String] = []
        var overLimit = 0
        for (request, code) in zip(requests, codes) where code.grantedQoS == nil {
            if code == .quotaExceeded {
                overLimit += 1
            } else if code == .notAuthorized {
                refused.append(request.filter)
            } else {
                invalid.append(request.filter)
            }
        }
        var parts: [String] = []
        if !refused.isEmpty { parts.append("not authorized: \(ReasonString.list(refused, noun: "filters"))") }
        if !invalid.isEmpty { parts.append("invalid topic filter: \(ReasonString.list(invalid, noun: "filters"))") }
        if overLimit > 0 {
            let limits = broker.limits
            parts.append(
                "\(overLimit) over the limit of \(limits.maxFiltersPerSubscribe) filters per SUBSCRIBE or \(limits.maxSubscriptionsPerClient) subscriptions per client"
            )
        }
        var properties = MQTTProperties()
        if !parts.isEmpty { properties.append(.reasonString, .string(ReasonString.bounded(parts.joined(separator: "; ")))) }
        return properties
    }

}
