import Synchronization
import WharfMQTT

extension Session {
    // MARK: Recovery

    /// Puts back a message the journal held for this (offline)
    /// session: in flight under its packet id when it had gone out at QoS 2
    /// (so the client's duplicate detection still works), queued otherwise.
    public struct Restoring: Sendable {
        var delivery: Delivery
        /// The packet id a QoS 2 delivery went out under, for good.
        var packetId: UInt16?
        /// PUBREC came: PUBREL is what is resent.
        var released: Bool

        public init(_ delivery: Delivery, packetId: UInt16?, released: Bool) {
            self.delivery = delivery
            self.packetId = packetId
            self.released = released
        }
    }

    func restore(_ items: [Restoring]) {
        state.withLock { state in
            for item in items {
                let delivery = item.delivery
                if let packetId = item.packetId {
                    state.outbound.restoreInflight(
                        delivery.message, qos: delivery.qos, packetId: packetId, retain: delivery.retain,
                        subscriptionIds: delivery.subscriptionIds, attempts: delivery.attempts, released: item.released
                    )
                } else {
                    _ = state.outbound.enqueue(
                        delivery.message, qos: delivery.qos, retain: delivery.retain, onSubscribe: delivery.onSubscribe,
                        subscriptionIds: delivery.subscriptionIds, attempts: delivery.attempts
                    )
                }
            }
        }
    }

    func restoreInbound(_ ids: Set<UInt16>) {
        state.withLock { $0.awaitingRelease.formUnion(ids) }
    }
}
