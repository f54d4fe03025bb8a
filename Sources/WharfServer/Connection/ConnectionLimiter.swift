import Atomics

/// Counts sockets against two limits. Lock-free: every event loop accepts
/// connections.
///
/// A socket is *pending* from accept until its CONNECT is read, then
/// *connected*. The two are counted apart so that sockets that never send
/// CONNECT (an attack, or a scan) fill only the small pending allowance and
/// are closed at accept beyond it, and cannot shut legitimate clients out of
/// `max_connections`. The connect timeout ends the ones that stay silent.
final class ConnectionLimiter: Sendable {
    /// What a connection holds, released exactly once.
    enum Slot: Sendable {
        case none, pending, connected
    }

    private let connected = ManagedAtomic<Int>(0)
    private let pending = ManagedAtomic<Int>(0)
    let maximum: Int
    let maximumPending: Int

    init(maximum: Int, maximumPending: Int = ServerConfig.defaultMaxPendingConnections) {
        self.maximum = maximum
        self.maximumPending = maximumPending
    }

    /// At accept: a pending slot, or nil when too many sockets are pending.
    func acquirePending() -> Slot? {
        take(pending, maximumPending) ? .pending : nil
    }

    /// At CONNECT: trades the pending slot for a connected one; `.none` when
    /// the broker is full (the client gets CONNACK "server unavailable").
    func promote(_ slot: Slot) -> Slot {
        release(slot)
        return take(connected, maximum) ? .connected : .none
    }

    func release(_ slot: Slot) {
        switch slot {
        case .none: break
        case .pending: pending.wrappingDecrement(ordering: .relaxed)
        case .connected: connected.wrappingDecrement(ordering: .relaxed)
        }
    }

    private func take(_ counter: ManagedAtomic<Int>, _ limit: Int) -> Bool {
        if counter.wrappingIncrementThenLoad(ordering: .relaxed) <= limit { return true }
        counter.wrappingDecrement(ordering: .relaxed)
        return false
    }
}
