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

/// SIGINT/SIGTERM for `wharf top` and `wharf demo`, whose UI loops poll
/// `received` and end (the demo then stops its broker gracefully); `wharf
/// serve` uses `ShutdownSignals`.
///
/// A plain signal handler writes to a pipe that a small thread reads (the
/// self-pipe pattern). The handler is installed in one step for every
/// thread, so there is no moment, as there was with SIG_IGN followed by a
/// dispatch source, when a signal is ignored and lost.
final class TerminationSignal: Sendable {
    private let state = Mutex<String?>(nil)

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
                let name = Int32(byte) == SIGINT ? "SIGINT" : "SIGTERM"
                state.withLock { received in
                    if received == nil { received = name }
                }
            }
        }
        thread.name = "wharf.signals"
        thread.start()
    }

    /// The first termination signal received so far, if any.
    var received: String? { state.withLock { $0 } }
}
