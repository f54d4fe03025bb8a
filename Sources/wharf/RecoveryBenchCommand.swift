import ArgumentParser
import Foundation
import NIOCore
import WharfCore
import WharfStorage

/// `wharf bench-recovery`: how long a restart takes with many stored
/// messages. Writes a data directory through the store's own writer (the
/// log a broker would have left: one persistent session holding every
/// message), then times opening it (scan, CRC, replay) and restoring the
/// broker from it, several times, and prints the medians.
struct RecoveryBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-recovery",
        abstract: "Measure recovery time of a data directory holding N stored messages."
    )

    @Option(help: "Stored messages.")
    var messages = 1_000_000

    @Option(help: "Payload bytes per message.")
    var payload = 256

    @Option(help: "Timed recoveries in this process (the median is reported); 0 only writes the directory (with --keep).")
    var runs = 5

    @Option(help: "Where to build the data directory (removed afterwards).")
    var directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-bench-recovery-\(getpid())").path

    @Flag(help: "Keep the data directory (to time a broker starting on it: `wharf serve --data-dir`).")
    var keep = false

    func run() throws {
        defer { if !keep { try? FileManager.default.removeItem(atPath: directory) } }
        let options = StorageOptions(directory: directory, fsync: .never)
        let written = Date()
        do {
            let (storage, _) = try Storage.open(options)
            try storage.start()
            let queue = storage.nextQueueId()
            var batch = StorageBatch(capacity: 1 << 20)
            batch.session(queue: queue, clientId: "bench-recovery", expiryInterval: UInt32.max)
            batch.subscribe(queue: queue, filter: "bench/#", options: 1, identifier: 0)
            let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: payload)
            let now = UInt64(Date().timeIntervalSince1970 * 1e9)
            for index in 0..<messages {
                let id = storage.nextMessageId()
                batch.beginMessage(
                    StoredMessage(
                        id: id, topic: "bench/recovery/\(index % 100)", payload: body, qos: 1, retain: false, forwardsExpiry: false,
                        publishedAt: now, expiresAt: 0, properties: nil
                    ))
                batch.addTarget(queue: queue, qos: 1, retain: false)
                batch.endMessage()
                if batch.records >= 1000 { storage.submit(&batch) }
            }
            storage.submit(&batch)
            storage.close()
        }
        let bytes =
            (try? FileManager.default.contentsOfDirectory(atPath: directory))?
            .reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + $1)[.size] as? Int) ?? 0) } ?? 0
        print(
            "wrote \(messages) messages of \(payload) bytes: \(bytes) bytes of log in \(String(format: "%.1f", Date().timeIntervalSince(written))) s"
        )

        var opens: [Double] = []
        var restores: [Double] = []
        guard runs > 0 else { return }
        for run in 1...runs {
            let start = Date()
            let (journal, report) = try LocalLogJournal.open(options)
            let opened = Date()
            var limits = BrokerLimits()
            limits.maxQueuedMessages = 0  // one session holds them all
            let broker = Broker(limits: limits, journal: journal)
            let restored = journal.recover(into: broker)
            let done = Date()
            journal.close()
            let queued = broker.sessionQueuedCount(clientId: "bench-recovery")
            guard restored.queuedMessages == messages, queued == messages else {
                throw ValidationError("recovered \(restored.queuedMessages) of \(messages) messages, \(queued) queued")
            }
            opens.append(opened.timeIntervalSince(start))
            restores.append(done.timeIntervalSince(opened))
            print(
                String(
                    format: "run %d: open (scan + replay %d records) %.3f s, restore into the broker %.3f s, total %.3f s",
                    run, report.records, opens.last!, restores.last!, opens.last! + restores.last!))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let total = zip(opens, restores).map { $0 + $1 }
        print(
            String(
                format: "recovery of %d messages: median %.3f s (open %.3f s, restore %.3f s); goal under 5 s",
                messages, median(total), median(opens), median(restores)))
    }
}
