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
        /// Steps waiting for every other write (each counted in `outstanding`).
        var steps: [@Sendable (Bool) -> Void] = []
    }

    private let state = Mutex(State())

    /// A write starts; call `finished` once for it.
    func add() {
        state.withLock { $0.outstanding += 1 }
    }

    /// A counted write ended; `ok` false fails the batch.
    func finished(ok: Bool) {
        let (fire, steps) = state.withLock { state -> (((@Sendable (Bool) -> Void), Bool)?, ([@Sendable (Bool) -> Void], Bool)) in
            state.outstanding -= 1
            if !ok { state.failed = true }
            return (Self.due(&state), Self.stepsDue(&state))
        }
        for step in steps.0 { step(steps.1) }
        if let (callback, ok) = fire { callback(ok) }
    }

    /// Runs `step` once every other write counted so far has ended (at once
    /// if none is outstanding), with whether they all succeeded; the gate
    /// stays open until `step` calls `finished` once for itself. For a
    /// write that may only be made once the others are in: a QoS 2
    /// exchange is marked routed in its session's record only after the
    /// message is stored everywhere it goes (marked earlier, a node that
    /// failed to store it left a record that made the next node acknowledge
    /// the resent PUBLISH without routing it: the chaos run lost 96 that way).
    func afterOtherWrites(_ step: @escaping @Sendable (Bool) -> Void) {
        let now = state.withLock { state -> ([@Sendable (Bool) -> Void], Bool) in
            state.outstanding += 1
            state.steps.append(step)
            return Self.stepsDue(&state)
        }
        for step in now.0 { step(now.1) }
    }

    private static func stepsDue(_ state: inout State) -> ([@Sendable (Bool) -> Void], Bool) {
        guard !state.steps.isEmpty, state.outstanding == state.steps.count else { return ([], false) }
        defer { state.steps = [] }
        return (state.steps, !state.failed)
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
