import Foundation
import Synchronization

/// The write end of the pipe the signal handler reports through. Set once,
/// before the handler is installed; the handler only reads it.
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

/// The process-wide handler: one async-signal-safe write of the signal number.
private func recordTermination(_ number: Int32) {
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(signalPipeWrite, &byte, 1)
}

/// SIGINT/SIGTERM handling, so the broker closes its listeners and
/// connections in order instead of dying mid-write.
///
/// A plain signal handler writes to a pipe that a small thread reads (the
/// self-pipe pattern). The handler is installed in one step for every
/// thread, so there is no moment, as there was with SIG_IGN followed by a
/// dispatch source, when a signal is ignored and lost. Installed before the
/// listeners start, and it remembers a signal that comes before `wait()`.
final class TerminationSignal: Sendable {
    private struct State {
        var received: String?
        var waiter: CheckedContinuation<String, Never>?
    }

    private let state = Mutex(State())

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed: \(errno)")
        let readEnd = fds[0]
        signalPipeWrite = fds[1]
        signal(SIGINT, recordTermination)
        signal(SIGTERM, recordTermination)
        let thread = Thread { [self] in
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) == 1 {
                deliver(Int32(byte) == SIGINT ? "SIGINT" : "SIGTERM")
            }
        }
        thread.name = "wharf.signals"
        thread.start()
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
