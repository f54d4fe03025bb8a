import Dispatch
import Foundation
import Synchronization

/// SIGINT/SIGTERM handling, so the broker closes its listeners and
/// connections in order instead of dying mid-write.
///
/// Installed before the listeners start (a signal that arrives between the
/// ready line and the wait must not kill the process with the default
/// action), and remembers a signal that comes before `wait()` is called.
final class TerminationSignal: Sendable {
    private struct State {
        var received: String?
        var waiter: CheckedContinuation<String, Never>?
    }

    private let state = Mutex(State())
    /// Kept only to stay alive; never touched after `init`.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    init() {
        let queue = DispatchQueue(label: "wharf.signals")
        var sources: [any DispatchSourceSignal] = []
        for (number, _) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            sources.append(DispatchSource.makeSignalSource(signal: number, queue: queue))
        }
        self.sources = sources
        for (source, name) in zip(sources, ["SIGINT", "SIGTERM"]) {
            source.setEventHandler { [self] in self.deliver(name) }
            source.resume()
        }
    }

    private func deliver(_ name: String) {
        let waiter: CheckedContinuation<String, Never>? = state.withLock { state in
            guard state.received == nil else { return nil }
            state.received = name
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: name)
    }

    /// Returns the name of the first termination signal received.
    func wait() async -> String {
        await withCheckedContinuation { continuation in
            let already: String? = state.withLock { state in
                if let received = state.received { return received }
                state.waiter = continuation
                return nil
            }
            if let already { continuation.resume(returning: already) }
        }
    }

    /// The signal received so far, if any (for loops that poll instead of waiting).
    var received: String? { state.withLock { $0.received } }
}
