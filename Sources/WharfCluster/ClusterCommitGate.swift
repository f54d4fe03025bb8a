import Synchronization

/// The cluster writes of one connection batch: done when every write it
/// counted was acknowledged (or passed) and the local commit is durable;
/// failed if any failed. Writes start as the batch is routed; the gate is
/// sealed when the batch commits, so acknowledgements may come before or after.
final class ClusterCommitGate: Sendable {
    private struct State {
        var outstanding = 0
        var failed = false
        var sealed: (@Sendable (Bool) -> Void)?
        var innerResult: Bool?
        var done = false
    }

    private let state = Mutex(State())

    /// A write starts; call `finished` once for it.
    func add() {
        state.withLock { $0.outstanding += 1 }
    }

    /// A counted write ended; `ok` false fails the batch.
    func finished(ok: Bool) {
        let fire = state.withLock { state -> ((@Sendable (Bool) -> Void), Bool)? in
            state.outstanding -= 1
            if !ok { state.failed = true }
            return Self.due(&state)
        }
        if let (callback, ok) = fire { callback(ok) }
    }

    /// The batch committed: `then` runs once everything is in.
    func seal(then callback: @escaping @Sendable (Bool) -> Void) {
        state.withLock { $0.sealed = callback }
    }

    /// The local journal's commit finished.
    func innerDone(_ ok: Bool) {
        let fire = state.withLock { state -> ((@Sendable (Bool) -> Void), Bool)? in
            state.innerResult = ok
            return Self.due(&state)
        }
        if let (callback, ok) = fire { callback(ok) }
    }

    private static func due(_ state: inout State) -> ((@Sendable (Bool) -> Void), Bool)? {
        guard !state.done, state.outstanding == 0, let inner = state.innerResult, let callback = state.sealed else { return nil }
        state.done = true
        return (callback, inner && !state.failed)
    }
}

/// Hands commit outcomes on in the order the commits were made.
final class CommitSequencer: Sendable {
    private struct State {
        var issued: UInt64 = 0
        var nextToDeliver: UInt64 = 1
        var waiting: [UInt64: (ok: Bool, callback: (@Sendable (Bool) -> Void)?)] = [:]
    }

    private let state = Mutex(State())

    func ticket() -> UInt64 {
        state.withLock { state in
            state.issued += 1
            return state.issued
        }
    }

    func complete(_ ticket: UInt64, ok: Bool, then callback: (@Sendable (Bool) -> Void)?) {
        let ready = state.withLock { state -> [(ok: Bool, callback: (@Sendable (Bool) -> Void)?)] in
            state.waiting[ticket] = (ok, callback)
            var ready: [(ok: Bool, callback: (@Sendable (Bool) -> Void)?)] = []
            while let next = state.waiting.removeValue(forKey: state.nextToDeliver) {
                ready.append(next)
                state.nextToDeliver += 1
            }
            return ready
        }
        for (ok, callback) in ready { callback?(ok) }
    }
}
