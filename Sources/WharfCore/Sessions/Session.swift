import Synchronization
import WharfMQTT

/// The server side of one client id: its subscriptions, its outbound queue
/// and in-flight window, and the QoS 2 ids it is waiting to see released.
///
/// Any thread may enqueue; the connection that owns the session drains it on
/// its event loop. The mutex covers in-memory bookkeeping only, never I/O.
public final class Session: Sendable {
    public let clientId: String
    /// Clean session = 0: kept (and queued for) while the client is away.
    public let isPersistent: Bool

    struct State: Sendable {
        var outbound: OutboundQueue
        var owner: (any DeliveryTarget)?
        var drainScheduled = false
        var subscriptions: [String: QoS] = [:]
        /// Inbound QoS 2 packet ids between PUBREC and PUBREL.
        var awaitingRelease = Set<UInt16>()
    }

    private let state: Mutex<State>

    public init(clientId: String, isPersistent: Bool, maxInflight: Int, maxQueued: Int) {
        self.clientId = clientId
        self.isPersistent = isPersistent
        self.state = Mutex(State(outbound: OutboundQueue(maxInflight: maxInflight, maxQueued: maxQueued)))
    }

    public enum EnqueueResult: Sendable, Hashable {
        case accepted
        /// Offline and QoS 0: not kept (as in Mosquitto's default).
        case droppedOffline
        /// Queue at its limit: counted as a slow or absent consumer.
        case droppedQueueFull
    }

    /// Queues one delivery; wakes the owner if it has nothing scheduled.
    public func enqueue(_ message: Message, qos: QoS, retain: Bool = false) -> EnqueueResult {
        let (result, wake): (EnqueueResult, (any DeliveryTarget)?) = state.withLock { state in
            if state.owner == nil && (qos == .atMostOnce || !isPersistent) {
                return (.droppedOffline, nil)
            }
            guard state.outbound.enqueue(message, qos: qos, retain: retain) == .queued else {
                return (.droppedQueueFull, nil)
            }
            // Only wake when something can go out now; with a full window the
            // acknowledgement path drains, so no hop per queued message.
            guard let owner = state.owner, !state.drainScheduled, state.outbound.canSend else { return (.accepted, nil) }
            state.drainScheduled = true
            return (.accepted, owner)
        }
        wake?.deliveriesPending()
        return result
    }

    /// Called by the owner on its loop: takes what may be sent now.
    public func takePackets(for owner: any DeliveryTarget, into packets: inout [OutboundPacket]) {
        state.withLock { state in
            guard state.owner === owner else { return }
            state.drainScheduled = false
            state.outbound.nextPackets(into: &packets)
        }
    }

    /// Makes `owner` the live connection. Returns the connection it replaces
    /// (to be closed) and appends the in-flight packets to resend first.
    public func attach(_ owner: any DeliveryTarget, resend packets: inout [OutboundPacket]) -> (any DeliveryTarget)? {
        state.withLock { state in
            let previous = state.owner
            state.owner = owner
            state.drainScheduled = false
            state.outbound.resendPackets(into: &packets)
            return previous
        }
    }

    /// Forgets `owner` if it is still the live connection. Returns true if it was.
    @discardableResult
    public func detach(_ owner: any DeliveryTarget) -> Bool {
        state.withLock { state in
            guard state.owner === owner else { return false }
            state.owner = nil
            state.drainScheduled = false
            return true
        }
    }

    /// Detaches whoever owns the session (it is being discarded). Returns that owner.
    func detachAll() -> (any DeliveryTarget)? {
        state.withLock { state in
            defer { state.owner = nil }
            return state.owner
        }
    }

    public var isOnline: Bool { state.withLock { $0.owner != nil } }

    // MARK: Acknowledgements from the client (owner's loop)

    public func acknowledge(_ id: UInt16) -> Message? {
        state.withLock { $0.outbound.acknowledge(id) }
    }

    public func received(_ id: UInt16) -> Bool {
        state.withLock { $0.outbound.received(id) }
    }

    public func completed(_ id: UInt16) -> Message? {
        state.withLock { $0.outbound.completed(id) }
    }

    // MARK: Inbound QoS 2 (3.1.1 section 4.3.3, method B)

    /// Records an inbound QoS 2 id. Returns false if it is already awaiting
    /// PUBREL, meaning the PUBLISH is a resend and must not be routed again.
    public func beginInboundExactlyOnce(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.insert(id).inserted }
    }

    public func releaseInbound(_ id: UInt16) {
        _ = state.withLock { $0.awaitingRelease.remove(id) }
    }

    // MARK: Subscriptions and counts

    func recordSubscription(_ filter: String, qos: QoS) {
        state.withLock { $0.subscriptions[filter] = qos }
    }

    func forgetSubscription(_ filter: String) -> Bool {
        state.withLock { $0.subscriptions.removeValue(forKey: filter) != nil }
    }

    public var subscriptions: [String: QoS] { state.withLock { $0.subscriptions } }

    func discardMessages() -> Int { state.withLock { $0.outbound.removeAll() } }

    public var queuedCount: Int { state.withLock { $0.outbound.queuedCount } }
    public var inflightCount: Int { state.withLock { $0.outbound.inflightCount } }
}
