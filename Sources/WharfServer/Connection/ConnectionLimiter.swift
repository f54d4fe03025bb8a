import Atomics
import DequeModule
import NIOCore
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
    /// Pending sockets. Small in normal use (sockets leave at CONNECT, within
    /// a round trip); at most `maximumPending` under attack.
    private let pending = Mutex(PendingSockets())
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
            let oldest = pending.count >= maximumPending ? pending.removeOldest() : nil
            pending.add(id, channel)
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
        case .pending(let id): pending.withLock { $0.remove(id) }
        case .connected: connected.wrappingDecrement(ordering: .relaxed)
        }
    }

    /// Sockets waiting to send CONNECT now.
    var pendingCount: Int { pending.withLock { $0.count } }
}

/// Pending sockets in arrival order, with O(1) arrival, departure and
/// eviction of the oldest (an ordered dictionary's removal shifts every
/// entry after it, under a lock every loop takes). A departure leaves its
/// arrival entry behind, skipped when met; the arrival queue is compacted
/// when such entries outnumber the live ones.
struct PendingSockets {
    private var channels: [ObjectIdentifier: (arrival: UInt64, channel: any Channel)] = [:]
    private var arrivals = Deque<(arrival: UInt64, id: ObjectIdentifier)>()
    private var nextArrival: UInt64 = 0

    var count: Int { channels.count }

    mutating func add(_ id: ObjectIdentifier, _ channel: any Channel) {
        nextArrival &+= 1
        channels[id] = (nextArrival, channel)
        arrivals.append((nextArrival, id))
    }

    mutating func remove(_ id: ObjectIdentifier) {
        guard channels.removeValue(forKey: id) != nil else { return }
        if arrivals.count > 2 * channels.count + 64 {
            arrivals.removeAll { channels[$0.id]?.arrival != $0.arrival }
        }
    }

    mutating func removeOldest() -> (any Channel)? {
        while let (arrival, id) = arrivals.popFirst() {
            guard let entry = channels[id], entry.arrival == arrival else { continue }
            channels.removeValue(forKey: id)
            return entry.channel
        }
        return nil
    }
}
