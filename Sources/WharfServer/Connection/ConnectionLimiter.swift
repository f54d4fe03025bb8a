import Atomics

/// Counts live MQTT connections against `maxConnections`. Lock-free: every
/// event loop accepts connections.
final class ConnectionLimiter: Sendable {
    private let current = ManagedAtomic<Int>(0)
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot; false when the broker is full.
    func acquire() -> Bool {
        if current.wrappingIncrementThenLoad(ordering: .relaxed) <= maximum { return true }
        current.wrappingDecrement(ordering: .relaxed)
        return false
    }

    func release() {
        current.wrappingDecrement(ordering: .relaxed)
    }
}
