import Atomics
import NIOCore
import OrderedCollections
import Synchronization

/// Counts sockets against two limits: every event loop accepts connections.
///
/// A socket is *pending* from accept until its CONNECT is read, then
/// *connected*. The two are counted apart so that sockets that never send
/// CONNECT (an attack, a scan, a half-broken client) cannot shut legitimate
/// clients out of `max_connections`. At the pending limit a new socket
/// closes the *oldest* pending one rather than being refused: refusing would
/// let whoever opens that many silent sockets first lock everyone out until
/// the connect timeout, while a real client sends CONNECT within
/// milliseconds of connecting and so is never the oldest for long.
final class ConnectionLimiter: Sendable {
    /// What a connection holds, released exactly once.
    enum Slot: Sendable, Equatable {
        case none
        case pending(ObjectIdentifier)
        case connected
    }

    private let connected = ManagedAtomic<Int>(0)
    /// Pending sockets, oldest first. Small in normal use (sockets leave at
    /// CONNECT, within a round trip); at most `maximumPending` under attack.
    private let pending = Mutex(OrderedDictionary<ObjectIdentifier, any Channel>())
    let maximum: Int
    let maximumPending: Int

    init(maximum: Int, maximumPending: Int = ServerConfig.defaultMaxPendingConnections) {
        self.maximum = maximum
        self.maximumPending = max(1, maximumPending)
    }

    /// At accept: the new socket's pending slot, and the oldest pending socket
    /// it displaced at the limit (the caller closes that one and counts it).
    func admit(_ channel: any Channel) -> (slot: Slot, displaced: (any Channel)?) {
        let id = ObjectIdentifier(channel)
        let displaced: (any Channel)? = pending.withLock { pending in
            var oldest: (any Channel)?
            if pending.count >= maximumPending { oldest = pending.removeFirst().value }
            pending[id] = channel
            return oldest
        }
        return (.pending(id), displaced)
    }

    /// At CONNECT: trades the pending slot for a connected one; `.none` when
    /// the broker is full (the client gets CONNACK "server unavailable").
    func promote(_ slot: Slot) -> Slot {
        release(slot)
        if connected.wrappingIncrementThenLoad(ordering: .relaxed) <= maximum { return .connected }
        connected.wrappingDecrement(ordering: .relaxed)
        return .none
    }

    func release(_ slot: Slot) {
        switch slot {
        case .none: break
        case .pending(let id): _ = pending.withLock { $0.removeValue(forKey: id) }
        case .connected: connected.wrappingDecrement(ordering: .relaxed)
        }
    }

    /// Sockets waiting to send CONNECT now.
    var pendingCount: Int { pending.withLock { $0.count } }
}
