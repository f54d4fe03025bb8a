import Synchronization
import WharfMQTT

extension Session {
    // MARK: Acknowledgements from the client (owner's loop)
    //
    // Only the current owner may acknowledge. After a takeover the old
    // connection can still be reading: an ack from it must not free a packet
    // id that the session may then reuse while the new connection is being
    // sent the same message again (its ack would then clear the wrong one).

    public func acknowledge(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.acknowledge(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }

    /// A negative acknowledgement (5.0 PUBACK/PUBREC with a failure code).
    public func reject(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.reject(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }

    /// What the delivery in flight under `id` is waiting for (the owner only).
    public func inflightState(_ id: UInt16, from owner: any DeliveryTarget) -> (qos: QoS, phase: OutboundQueue.InflightPhase)? {
        state.withLock { state in
            guard state.owner === owner else { return nil }
            return state.outbound.inflightState(id)
        }
    }

    /// A delivery that could not be written to the client (too large for it).
    public func abandon(_ id: UInt16, from owner: any DeliveryTarget) {
        state.withLock { state in
            if state.owner === owner { state.outbound.abandon(id) }
        }
    }

    /// PUBREC for a QoS 2 delivery: returns its message, or nil for an unknown id.
    @discardableResult
    public func received(_ id: UInt16, from owner: any DeliveryTarget) -> (message: Message, group: ConsumerGroup?)? {
        state.withLock { state in
            guard state.owner === owner, state.outbound.received(id), let message = state.outbound.inflightMessage(id) else { return nil }
            return (message, state.outbound.inflightGroup(id))
        }
    }

    public func completed(_ id: UInt16, from owner: any DeliveryTarget) -> OutboundQueue.Acknowledged? {
        state.withLock { state in
            guard state.owner === owner, let done = state.outbound.completed(id) else { return nil }
            state.progress &+= 1
            return done
        }
    }
}
