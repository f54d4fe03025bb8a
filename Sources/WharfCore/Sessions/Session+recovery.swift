import Synchronization
import WharfMQTT

extension Session {
    // MARK: Recovery

    /// Puts back a message the journal held for this (offline)
    /// session: in flight under its packet id when it had gone out at QoS 2
    /// (so the client's duplicate detection still works), queued otherwise.
    public struct Restoring: Sendable {
        var message: Message
        var qos: QoS
        var retain: Bool
        var onSubscribe: Bool
        var subscriptionIds: SubscriptionIdentifiers
        var attempts: Int
        var packetId: UInt16?
        var released: Bool

        public init(
            message: Message, qos: QoS, retain: Bool, onSubscribe: Bool, subscriptionIds: SubscriptionIdentifiers, attempts: Int,
            packetId: UInt16?, released: Bool
        ) {
            self.message = message
            self.qos = qos
            self.retain = retain
            self.onSubscribe = onSubscribe
            self.subscriptionIds = subscriptionIds
            self.attempts = attempts
            self.packetId = packetId
            self.released = released
        }
    }

    func restore(_ items: [Restoring]) {
        state.withLock { state in
            for item in items {
                if let packetId = item.packetId {
                    state.outbound.restoreInflight(
                        item.message, qos: item.qos, packetId: packetId, retain: item.retain, subscriptionIds: item.subscriptionIds,
                        attempts: item.attempts, released: item.released
                    )
                } else {
                    _ = state.outbound.enqueue(
                        item.message, qos: item.qos, retain: item.retain, onSubscribe: item.onSubscribe,
                        subscriptionIds: item.subscriptionIds, attempts: item.attempts
                    )
                }
            }
        }
    }

    public func restoreInbound(_ ids: Set<UInt16>) {
        state.withLock { $0.awaitingRelease.formUnion(ids) }
    }

    /// Cluster mode: the inbound QoS 2 ids awaiting PUBREL are exactly the
    /// record's. A copy kept on this node may hold an id whose exchange
    /// never reached the record (its write failed, and the connection
    /// closed unrouted): a PUBLISH sent again under it is new, not a
    /// resend to acknowledge without routing. Taken for a resend, it was
    /// acknowledged and lost (the chaos run).
    public func replaceInbound(_ ids: Set<UInt16>) {
        state.withLock { $0.awaitingRelease = ids }
    }
}
