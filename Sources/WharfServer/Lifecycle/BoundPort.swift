import Synchronization

/// The port a listener service bound, handed from its `run()` to whoever
/// waits for it: the ready line, the demo's clients, the metrics listener.
/// Ports of 0 pick free ones, so nobody knows the port before the bind.
public final class BoundPort: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int?, Never>])
        case listening(Int)
        /// Stopped accepting, or never bound (nil).
        case closed(Int?)

        var port: Int? {
            switch self {
            case .waiting: nil
            case .listening(let port): port
            case .closed(let port): port
            }
        }
    }

    private let state = Mutex(State.waiting([]))

    public init() {}

    /// The port the listener bound, or nil if it never did. Waits until it
    /// has bound or given up.
    public func value() async -> Int? {
        await withCheckedContinuation { continuation in
            let settled: State? = state.withLock { state in
                guard case .waiting(var waiters) = state else { return state }
                waiters.append(continuation)
                state = .waiting(waiters)
                return nil
            }
            if let settled { continuation.resume(returning: settled.port) }
        }
    }

    /// The port while the listener accepts connections, else nil.
    public var listening: Int? {
        state.withLock { state in
            guard case .listening(let port) = state else { return nil }
            return port
        }
    }

    /// The listener bound `port`; every waiter gets it.
    public func bound(_ port: Int) {
        settle { _ in .listening(port) }
    }

    /// The listener stopped accepting, or could not bind (waiters get nil).
    /// Harmless to call again.
    public func closed() {
        settle { .closed($0.port) }
    }

    private func settle(_ next: (State) -> State) {
        let (waiters, port): ([CheckedContinuation<Int?, Never>], Int?) = state.withLock { state in
            let previous = state
            state = next(previous)
            guard case .waiting(let waiters) = previous else { return ([], nil) }
            return (waiters, state.port)
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }
}
