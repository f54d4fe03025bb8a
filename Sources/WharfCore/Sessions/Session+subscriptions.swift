import Synchronization
import WharfMQTT

extension Session {
    // MARK: Subscriptions and counts

    /// Returns true if the session had no subscription to `filter` before.
    @discardableResult
    func recordSubscription(_ filter: String, qos: QoS) -> Bool {
        state.withLock { state in
            let key = ExactString(filter)
            state.noteCoverage(of: key)
            return state.subscriptions.updateValue(qos, forKey: key) == nil
        }
    }

    /// What `recordSubscription(_:qos:limit:)` did with a filter.
    enum SubscriptionRecord: Sendable, Hashable {
        case added, replaced, refused
    }

    /// Records `filter` unless it is new and the session already holds
    /// `limit` subscriptions (0: no limit). A filter the session has is
    /// replaced, never refused: a re-subscription is not a new subscription.
    func recordSubscription(_ filter: String, qos: QoS, limit: Int) -> SubscriptionRecord {
        state.withLock { state in
            let key = ExactString(filter)
            if let index = state.subscriptions.index(forKey: key) {
                state.subscriptions.values[index] = qos
                return .replaced
            }
            guard limit <= 0 || state.subscriptions.count < limit else { return .refused }
            state.subscriptions[key] = qos
            state.noteCoverage(of: key)
            return .added
        }
    }

    func forgetSubscription(_ filter: String) -> Bool {
        state.withLock { state in
            let key = ExactString(filter)
            state.filtersNeedingChecks.remove(key)
            return state.subscriptions.removeValue(forKey: key) != nil
        }
    }

    /// The session's topic filters and their granted QoS.
    public var subscriptions: [(filter: String, qos: QoS)] {
        state.withLock { $0.subscriptions.map { ($0.key.string, $0.value) } }
    }

    func discardMessages() -> (count: Int, fromGroups: [(ConsumerGroup, Message)]) {
        state.withLock { state in
            // What it held is gone from here: the cluster queue's floor no
            // longer follows from this queue (see `inboxFloor`).
            state.inboxFloorKnown = false
            // Nor are its entries this copy's to delete any more.
            state.inboxRead.removeAll()
            return state.outbound.removeAll()
        }
    }

    public var queuedCount: Int { state.withLock { $0.outbound.queuedCount } }

    /// The journal id of the message the last drop-oldest (a policy's max_length) dropped.
    var lastDroppedJournalId: UInt64 { state.withLock { $0.outbound.lastDroppedJournalId } }
}
