import Foundation
import NIOCore
import Testing

@testable import WharfStorage

/// The log on a real disk: what is written comes back after a reopen, a torn
/// tail is cut, corruption in the middle is reported and skipped, and
/// checkpoints drop segments without losing what is live.
@Suite struct StorageRecoveryTests {
    let directory = NSTemporaryDirectory() + "wharf-storage-test-" + UUID().uuidString

    func message(_ id: UInt64, _ text: String, retain: Bool = false) -> StoredMessage {
        StoredMessage(
            id: id, topic: "orders/\(id)", payload: ByteBuffer(string: text), qos: 1, retain: retain, forwardsExpiry: false,
            publishedAt: 1_700_000_000_000_000_000, expiresAt: 0, properties: nil
        )
    }

    /// A message record with one target queue, as a publisher's connection writes it.
    func publish(_ stored: StoredMessage, to queue: UInt64, qos: UInt8, in batch: inout StorageBatch) {
        batch.beginMessage(stored)
        batch.addTarget(queue: queue, qos: qos, retain: false)
        batch.endMessage()
    }

    /// Submits `batch` and waits until the writer says it is durable.
    func commit(_ storage: Storage, _ batch: inout StorageBatch) {
        let done = DispatchSemaphore(value: 0)
        storage.submit(&batch) { ok in
            #expect(ok)
            done.signal()
        }
        done.wait()
    }

    func open(_ options: StorageOptions? = nil) throws -> (Storage, DurableState, RecoveryReport) {
        let (storage, report) = try Storage.open(options ?? StorageOptions(directory: directory))
        return (storage, storage.withRecoveredState { $0 }, report)
    }

    @Test func queuedMessagesSessionsAndRetainedSurviveAReopen() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (storage, _, _) = try open()
            try storage.start()
            let queue = storage.nextQueueId()
            var batch = StorageBatch()
            batch.session(queue: queue, clientId: "sensor-1", expiryInterval: UInt32.max)
            batch.subscribe(queue: queue, filter: "orders/#", options: 1, identifier: 0)
            for id in 1...3 as ClosedRange<UInt64> {
                publish(message(id, "m\(id)"), to: queue, qos: 1, in: &batch)
            }
            batch.remove(queue: queue, message: 2)
            batch.message(message(4, "kept"), targets: [])
            batch.retain(topic: "orders/4", message: 4)
            batch.inbound(queue: queue, packetId: 7, awaiting: true)
            #expect(batch.needsDurableReply)
            commit(storage, &batch)
            storage.close()
        }
        let (_, state, report) = try open()
        #expect(report.problems.isEmpty)
        #expect(state.queues.count == 1)
        let queue = try #require(state.queues.values.first)
        #expect(queue.kind == .session(clientId: "sensor-1", expiryInterval: UInt32.max))
        #expect(Set(queue.entries.keys) == [1, 3])
        #expect(queue.subscriptions["orders/#"]?.options == 1)
        #expect(queue.inbound == [7])
        #expect(state.retained["orders/4"] == 4)
        #expect(state.body(of: 3).map { String(buffer: $0.payload) } == "m3")
        #expect(state.messages[2] == nil)
        #expect(state.nextMessageId == 5)
    }

    @Test func aQueueComesBackInTheOrderItWasQueued() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (storage, _, _) = try open()
            try storage.start()
            var batch = StorageBatch()
            batch.session(queue: 1, clientId: "c", expiryInterval: UInt32.max)
            batch.message(message(1, "retained", retain: true))
            batch.retain(topic: "orders/1", message: 1)
            batch.enqueue(QueueEntry(queue: 1, message: 1, qos: 1, retain: true, onSubscribe: true))
            for id in 2...3 as ClosedRange<UInt64> {
                publish(message(id, "m\(id)"), to: 1, qos: 1, in: &batch)
            }
            // Acknowledged, then sent again on a new subscription: it now comes last.
            batch.remove(queue: 1, message: 1)
            batch.enqueue(QueueEntry(queue: 1, message: 1, qos: 1, retain: true, onSubscribe: true))
            commit(storage, &batch)
            storage.close()
        }
        let (_, state, _) = try open()
        #expect(try #require(state.queues[1]).queuedInOrder.map(\.0) == [2, 3, 1])
    }

    /// A subscriber's connection can log that it sent a message at QoS 2, and
    /// that PUBREC came back, before the publisher's connection logs the
    /// message itself: both batches race to the writer.
    @Test func qos2ProgressLoggedBeforeItsMessageIsKept() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (storage, _, _) = try open()
            try storage.start()
            var subscriber = StorageBatch()
            subscriber.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            commit(storage, &subscriber)
            subscriber.sent(queue: 1, message: 1, packetId: 9)
            subscriber.released(queue: 1, message: 1)
            subscriber.sent(queue: 1, message: 2, packetId: 10)
            commit(storage, &subscriber)
            var publisher = StorageBatch()
            for id in 1...2 as ClosedRange<UInt64> {
                publish(message(id, "m\(id)"), to: 1, qos: 2, in: &publisher)
            }
            commit(storage, &publisher)
            storage.close()
        }
        let (_, state, _) = try open()
        let queue = try #require(state.queues[1])
        #expect(queue.entries[1]?.packetId == 9)
        #expect(queue.entries[1]?.released == true)
        #expect(queue.entries[2]?.packetId == 10)
        #expect(queue.entries[2]?.released == false)
    }

    /// A checkpoint taken while that progress still waits for its message keeps it.
    @Test func earlyQos2ProgressSurvivesACheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let options = StorageOptions(directory: directory, segmentBytes: 16 << 10)
        let payload = String(repeating: "p", count: 1000)
        do {
            let (storage, _, _) = try open(options)
            try storage.start()
            var batch = StorageBatch()
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.sent(queue: 1, message: 1_000, packetId: 4)
            batch.released(queue: 1, message: 1_000)
            commit(storage, &batch)
            // Acknowledged traffic until the writer checkpoints once (the
            // next one is at least a segment of writes away).
            var id: UInt64 = 1
            while storage.snapshot().checkpointsTotal == 0, id <= 100 {
                publish(message(id, payload), to: 1, qos: 1, in: &batch)
                batch.remove(queue: 1, message: id)
                commit(storage, &batch)
                id += 1
            }
            #expect(storage.snapshot().checkpointsTotal == 1)
            publish(message(1_000, "late"), to: 1, qos: 2, in: &batch)
            commit(storage, &batch)
            storage.close()
        }
        let (_, state, report) = try open(options)
        #expect(report.problems.isEmpty)
        let entry = try #require(state.queues[1]?.entries[1_000])
        #expect(entry.packetId == 4)
        #expect(entry.released)
    }

    /// A group member's PUBREC moves the message from the group's queue to
    /// the member's, possibly before the publisher's record is logged.
    @Test func aGroupMessageHandedToAMemberBeforeItIsLoggedLandsWithTheMember() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (storage, _, _) = try open()
            try storage.start()
            var setup = StorageBatch()
            setup.group(queue: 1, name: "workers", filter: "jobs/#")
            setup.session(queue: 2, clientId: "worker-1", expiryInterval: UInt32.max)
            commit(storage, &setup)
            var member = StorageBatch()
            for id in [1, 2] as [UInt64] {
                member.enqueue(QueueEntry(queue: 2, message: id, qos: 2))
                member.sent(queue: 2, message: id, packetId: UInt16(id))
                member.released(queue: 2, message: id)
                member.remove(queue: 1, message: id)
            }
            commit(storage, &member)
            var publisher = StorageBatch()
            for id in 1...3 as ClosedRange<UInt64> {
                publish(message(id, "job \(id)"), to: 1, qos: 2, in: &publisher)
            }
            commit(storage, &publisher)
            // PUBCOMP for job 2: it leaves the member's queue.
            member.remove(queue: 2, message: 2)
            commit(storage, &member)
            storage.close()
        }
        let (_, state, report) = try open()
        #expect(report.problems.isEmpty)
        #expect(state.queues[1]?.entries.keys.sorted() == [3])
        #expect(state.queues[2]?.entries.keys.sorted() == [1])
        #expect(state.queues[2]?.entries[1]?.packetId == 1)
        #expect(state.queues[2]?.entries[1]?.released == true)
        #expect(state.messages[2] == nil)
    }

    /// Early records whose message never comes (its publisher's batch died
    /// with the broker) are not copied from checkpoint to checkpoint for ever.
    @Test func earlyRecordsForAMessageThatNeverCameAreDroppedAtTheSecondCheckpoint() {
        var state = DurableState(keepsBodies: false)
        let at = DurableState.Location(segment: 1, offset: 0, length: 10)
        state.apply(.session(queue: 1, clientId: "c", expiryInterval: UInt32.max), at: at)
        state.apply(.remove(queue: 1, message: 77), at: at)
        state.apply(.sent(queue: 1, message: 78, packetId: 3), at: at)
        state.apply(.enqueue(queue: 1, QueueEntry(queue: 1, message: 79, qos: 2)), at: at)
        #expect(!state.early.isEmpty)
        state.ageEarlyRecords()
        #expect(!state.early.isEmpty)
        state.ageEarlyRecords()
        #expect(state.early.isEmpty)
    }

    @Test func aTornTailIsCutAndEverythingBeforeItKept() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (storage, _, _) = try open()
            try storage.start()
            var batch = StorageBatch()
            batch.session(queue: 1, clientId: "c", expiryInterval: 60)
            publish(message(1, "whole"), to: 1, qos: 1, in: &batch)
            commit(storage, &batch)
            storage.close()
        }
        // Half a record, as a crash in the middle of write(2) leaves it.
        let segment = try #require(try SegmentFiles.list(directory).last)
        let path = SegmentFiles.path(directory, segment)
        var torn = StorageBatch()
        torn.message(message(2, String(repeating: "x", count: 100)))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(torn.bytes.readableBytesView.prefix(40)))
        try handle.close()
        let sizeBefore = SegmentFiles.size(path)

        let (_, state, report) = try open()
        #expect(report.truncatedBytes == 40)
        #expect(report.problems.count == 1)
        #expect(SegmentFiles.size(path) == sizeBefore - 40)
        #expect(state.queues[1]?.entries.keys.sorted() == [1])
    }

    @Test func corruptionInTheMiddleIsReportedWithItsOffsetAndLaterSegmentsStillRead() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for round in 0..<2 {
            let (storage, _, _) = try open()
            try storage.start()
            var batch = StorageBatch()
            if round == 0 { batch.session(queue: 1, clientId: "c", expiryInterval: 60) }
            publish(message(UInt64(round + 1), "round \(round)"), to: 1, qos: 1, in: &batch)
            commit(storage, &batch)
            storage.close()
        }
        let segments = try SegmentFiles.list(directory)
        // Flip a byte inside the first message record of the first non-empty segment.
        let first = try #require(segments.first { SegmentFiles.size(SegmentFiles.path(directory, $0)) > 8 })
        let path = SegmentFiles.path(directory, first)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 5] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))

        let (_, _, report) = try open()
        #expect(report.corruptSegments == [first])
        #expect(report.problems.first?.contains("checksum mismatch at offset") == true)
        #expect(report.problems.first?.contains(path) == true)
        #expect(report.records >= 2)
    }

    @Test func checkpointsDropOldSegmentsAndKeepWhatIsLive() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let options = StorageOptions(directory: directory, segmentBytes: 16 << 10)
        let payload = String(repeating: "p", count: 1000)
        do {
            let (storage, _, _) = try open(options)
            try storage.start()
            var batch = StorageBatch()
            batch.session(queue: 1, clientId: "slow", expiryInterval: 3600)
            batch.sessionOffline(queue: 1, expiresAt: 1_900_000_000_000_000_000)
            commit(storage, &batch)
            // 200 messages of 1 KB; all but every 50th acknowledged.
            for id in 1...200 as ClosedRange<UInt64> {
                publish(message(id, payload), to: 1, qos: 1, in: &batch)
                if id % 50 != 0 { batch.remove(queue: 1, message: id) }
                commit(storage, &batch)
            }
            let snapshot = storage.snapshot()
            #expect(snapshot.checkpointsTotal > 0)
            #expect(snapshot.bytes < 200 * 1000)
            #expect(snapshot.storedMessages == 4)
            storage.close()
        }
        let (_, state, report) = try open(options)
        #expect(report.problems.isEmpty)
        #expect(state.queues[1]?.entries.keys.sorted() == [50, 100, 150, 200])
        #expect(state.queues[1]?.expiresAt == 1_900_000_000_000_000_000)
        #expect(state.body(of: 200).map { $0.payload.readableBytes } == 1000)
    }

    @Test func asecondBrokerCannotOpenTheSameDirectory() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (storage, _, _) = try open()
        defer { storage.close() }
        #expect(throws: StorageError.self) { _ = try open() }
    }

    @Test func fsyncPoliciesAndSizesParse() {
        #expect(StorageOptions.FsyncPolicy(parsing: "always") == .always)
        #expect(StorageOptions.FsyncPolicy(parsing: "every 50ms") == .every(milliseconds: 50))
        #expect(StorageOptions.FsyncPolicy(parsing: "every 0ms") == nil)
        #expect(StorageOptions.FsyncPolicy(parsing: "sometimes") == nil)
        #expect(StorageOptions.parseSize("10MiB") == 10 << 20)
        #expect(StorageOptions.parseSize("2GB") == 2_000_000_000)
        #expect(StorageOptions.parseSize("ten") == nil)
    }
}
