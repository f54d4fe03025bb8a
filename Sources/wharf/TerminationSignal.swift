import Dispatch
import Foundation

/// Waits for SIGINT or SIGTERM so the broker can close its listener and
/// connections in order instead of dying mid-write.
enum TerminationSignal {
    static func wait() async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "wharf.signals")
            let sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                return (source, name)
            }
            let resumed = ResumeOnce(continuation)
            for (source, name) in sources {
                source.setEventHandler { resumed.resume(name) }
                source.resume()
            }
            // Keep the sources alive for the process lifetime.
            Retainer.keep(sources.map(\.0))
        }
    }

    private final class ResumeOnce: @unchecked Sendable {  // guarded by the serial signal queue
        private var continuation: CheckedContinuation<String, Never>?
        init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }
        func resume(_ name: String) {
            continuation?.resume(returning: name)
            continuation = nil
        }
    }

    private enum Retainer {
        nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
        static func keep(_ new: [any DispatchSourceSignal]) { sources.append(contentsOf: new) }
    }
}
