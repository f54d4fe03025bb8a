import Synchronization
import WharfMQTT

/// A session as a consumer group member: handovers bounded by its free
/// window, membership, and offers when it has room again.
extension Session {
    /// A consumer group hands over a message: accepted only while a client is
    /// connected and has room (`groupCapacity`), so the group can offer it to
    /// another member otherwise.
    func enqueueForGroup(_ message: Message, qos: QoS, subscriptionIds: SubscriptionIdentifiers, attempts: Int, group: ConsumerGroup)
        -> Bool
    {
        let (accepted, wake): (Bool, (any DeliveryTarget)?) = state.withLock { state in
            guard let owner = state.owner, Self.capacity(state) > 0 else { return (false, nil) }
            guard
                state.outbound.enqueue(
                    message, qos: qos, retain: false, subscriptionIds: subscriptionIds, group: group, attempts: attempts
                ) == .accepted
            else { return (false, nil) }
            guard !state.drainScheduled, state.outbound.canSend else { return (true, nil) }
            state.drainScheduled = true
            return (true, owner)
        }
        wake?.deliveriesPending()
        return accepted
    }

    /// How many more group messages this member can take now: its in-flight
    /// window less what it holds (0 while offline).
    private static func capacity(_ state: State) -> Int {
        guard state.owner != nil else { return 0 }
        return max(0, state.outbound.maxInflight - state.outbound.inflightCount - state.outbound.queuedCount)
    }

    func joined(_ group: ConsumerGroup) {
        let count = state.withLock { state in
            state.groups[ObjectIdentifier(group)] = group
            return state.groups.count
        }
        groupCount.store(count, ordering: .relaxed)
    }

    func left(_ group: ConsumerGroup) {
        let count = state.withLock { state in
            state.groups.removeValue(forKey: ObjectIdentifier(group))
            return state.groups.count
        }
        groupCount.store(count, ordering: .relaxed)
    }

    /// The groups this session belongs to offer it what waits (after it
    /// drained, acknowledged or came back).
    public func dispatchGroups() {
        guard groupCount.load(ordering: .relaxed) > 0 else { return }
        let groups = state.withLock { Array($0.groups.values) }
        for group in groups { group.dispatch() }
    }

    /// The session's copy of these group deliveries went (it ended, or went
    /// to another node): their groups stop counting them as out with it.
    func groupDeliveriesDiscarded(_ discarded: [(ConsumerGroup, Message)]) {
        for (group, messages) in Self.byGroup(discarded) { group.discarded(messages) }
    }

    /// Gives every unacknowledged group message back to its group.
    func returnGroupMessages(_ taken: [(ConsumerGroup, Message)]) {
        for (group, messages) in Self.byGroup(taken) { group.returned(messages) }
    }

    /// `pairs` by group, each group's messages in their order.
    private static func byGroup(_ pairs: [(ConsumerGroup, Message)]) -> some Collection<(ConsumerGroup, [Message])> {
        var byGroup: [ObjectIdentifier: (ConsumerGroup, [Message])] = [:]
        for (group, message) in pairs {
            byGroup[ObjectIdentifier(group), default: (group, [])].1.append(message)
        }
        return byGroup.values
    }
}
