import ArgumentParser
import Foundation
import WharfStorage

/// `wharf storage`: tools for a data directory.
struct StorageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Look into a data directory of the durable store.",
        subcommands: [InspectCommand.self]
    )
}

/// `wharf storage inspect DIR`: segments, records by kind, problems, and
/// the live state recovery would rebuild. Read-only: safe on a running broker's directory.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print what a data directory holds (read-only)."
    )

    @Argument(help: "The data directory (default ./wharf-data).")
    var directory = "wharf-data"

    @Flag(name: .long, help: "List every queued message id per queue.")
    var verbose = false

    func run() throws {
        let (state, report): (DurableState, RecoveryReport)
        do {
            (state, report) = try Storage.inspect(directory)
        } catch {
            throw ValidationError("\(error)")
        }
        print(
            "data directory \(directory): \(report.segments) segments, \(report.bytes) bytes, \(report.records) records (read in \(String(format: "%.3f", report.seconds)) s)"
        )
        for segment in report.perSegment {
            let kinds = segment.records.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("  \(SegmentFiles.name(segment.number))  \(segment.bytes) bytes  \(kinds.isEmpty ? "no records" : kinds)")
        }
        for problem in report.problems { print("problem: \(problem)") }
        print("live: \(state.messages.count) messages (\(state.liveMessageBytes) bytes of records), next message id \(state.nextMessageId)")
        for (id, queue) in state.queues.sorted(by: { $0.key < $1.key }) {
            let inflight = queue.entries.values.filter { $0.packetId != nil }.count
            switch queue.kind {
            case .session(let clientId, let expiry):
                var expiryText = expiry == UInt32.max ? "never expires" : "expiry \(expiry) s"
                if queue.expiresAt != 0 {
                    let date = Date(timeIntervalSince1970: Double(queue.expiresAt) / 1e9)
                    expiryText += ", offline, ends \(date.formatted(.iso8601))"
                }
                print(
                    "session \(clientId) (queue \(id), \(expiryText)): \(queue.entries.count) messages, \(inflight) QoS 2 in flight, \(queue.inbound.count) inbound QoS 2 awaiting PUBREL"
                )
            case .group(let name, let filter):
                print("group $share/\(name)/\(filter) (queue \(id)): \(queue.entries.count) messages")
            }
            for (filter, subscription) in queue.subscriptions.sorted(by: { $0.key < $1.key }) {
                print("  subscription \(filter) qos \(subscription.options & 3)")
            }
            if verbose { print("  messages: \(queue.entries.keys.sorted().map(String.init).joined(separator: " "))") }
        }
        print("retained: \(state.retained.count) topics")
        for topic in state.retained.keys.sorted().prefix(verbose ? Int.max : 20) { print("  \(topic)") }
        print("delayed wills: \(state.wills.count)")
        for clientId in state.wills.keys.sorted() { print("  \(clientId)") }
        print("de-duplication ids: \(state.dedup.count)")
    }
}
