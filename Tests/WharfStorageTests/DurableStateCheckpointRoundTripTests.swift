import Foundation
import NIOCore
import Testing

@testable import WharfStorage

/// The real checkpoint (`Storage.checkpoint`, which writes the writer's
/// `DurableState` as records into a new segment and deletes the older ones)
/// read back by recovery, compared with the same records applied in memory.
/// Checkpoints are private to the writer thread, so these drive one with
/// acknowledged traffic on a small segment size.
@Suite struct DurableStateCheckpointRoundTripTests {
    let directory = NSTemporaryDirectory() + "wharf-durable-state-test-" + UUID().uuidString
    var options: StorageOptions { StorageOptions(directory: directory, segmentBytes: 16 << 10) }

    /// Submits `batch`, applies the same records to `expected`, and waits
    /// until the writer says they are durable.
    func commit(_ storage: Storage, _ batch: inout StorageBatch, expected: inout MemoryLog) {
        expected.append(batch)
        let done = DispatchSemaphore(value: 0)
        storage.submit(&batch) { ok in
            #expect(ok)
            done.signal()
        }
        done.wait()
    }

    /// Acknowledged messages on queue `filler` until the writer has taken
    /// `count` checkpoints.
    func fill(_ storage: Storage, queue filler: UInt64, untilCheckpoints count: Int, expected: inout MemoryLog) {
        let payload = String(repeating: "f", count: 1000)
        var batch = StorageBatch()
        for _ in 0..<400 where storage.snapshot().checkpointsTotal < count {
            for _ in 0..<4 {
                let id = storage.nextMessageId()
                batch.message(stored(id, payload: payload), targets: [QueueEntry(queue: filler, message: 0, qos: 1)])
                batch.remove(queue: filler, message: id)
            }
            commit(storage, &batch, expected: &expected)
        }
        // The writer checkpoints after answering: wait for it to be counted.
        for _ in 0..<500 where storage.snapshot().checkpointsTotal < count { usleep(10_000) }
        #expect(storage.snapshot().checkpointsTotal == count)
    }

    /// The segment numbers on disk, and whether the oldest starts with a checkpoint.
    func segments() throws -> (numbers: [UInt64], oldestIsACheckpoint: Bool) {
        let (_, report) = try Storage.inspect(directory)
        let oldest = report.perSegment.first?.records ?? [:]
        return (report.perSegment.map(\.number), oldest["checkpoint-begin"] == 1 && oldest["checkpoint-end"] == 1)
    }

    @Test func aCheckpointRewritesTheWholeLiveStateAndRecoveryFindsItAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expected = MemoryLog(.inPlace)
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let reader: UInt64
        let meter: UInt64
        let workers: UInt64
        let filler: UInt64
        // `lost`: a message whose publisher's batch never reaches the log.
        let lost: UInt64
        let m1: UInt64
        let m2: UInt64
        let m3: UInt64
        let retained: UInt64
        let will: UInt64
        let nextMessageIdAtClose: UInt64
        do {
            let (storage, _) = try Storage.open(options)
            try storage.start()
            reader = storage.nextQueueId()
            meter = storage.nextQueueId()
            workers = storage.nextQueueId()
            filler = storage.nextQueueId()
            lost = storage.nextMessageId()
            m1 = storage.nextMessageId()
            m2 = storage.nextMessageId()
            m3 = storage.nextMessageId()
            retained = storage.nextMessageId()
            will = storage.nextMessageId()
            var batch = StorageBatch()
            batch.session(queue: reader, clientId: "reader", expiryInterval: UInt32.max)
            batch.subscribe(queue: reader, filter: "sensors/#", options: 0b0010_0110, identifier: 12)
            batch.subscribe(queue: reader, filter: "status", options: 1, identifier: 0)
            batch.inbound(queue: reader, packetId: 7, awaiting: true)
            batch.inbound(queue: reader, packetId: 9, awaiting: true)
            batch.inbound(queue: reader, packetId: 9, awaiting: false)
            batch.session(queue: meter, clientId: "meter", expiryInterval: 3600)
            batch.sessionOffline(queue: meter, expiresAt: now + 3_600_000_000_000)
            batch.group(queue: workers, name: "workers", filter: "jobs/#")
            batch.session(queue: filler, clientId: "filler", expiryInterval: UInt32.max)
            commit(storage, &batch, expected: &expected)

            // The subscriber's records about the lost message.
            batch.remove(queue: meter, message: lost)
            batch.sent(queue: reader, message: lost, packetId: 13)
            batch.released(queue: reader, message: lost)
            commit(storage, &batch, expected: &expected)

            batch.message(
                stored(m1, qos: 2),
                targets: [
                    QueueEntry(queue: reader, message: 0, qos: 2), QueueEntry(queue: meter, message: 0, qos: 1, subscriptionIds: [5]),
                ])
            batch.message(stored(m2, qos: 2), targets: [QueueEntry(queue: reader, message: 0, qos: 2)])
            batch.message(stored(m3), targets: [QueueEntry(queue: workers, message: 0, qos: 1, attempts: 2)])
            batch.message(stored(retained, topic: "status"))
            batch.retain(topic: "status", message: retained)
            batch.enqueue(QueueEntry(queue: reader, message: retained, qos: 1, retain: true, onSubscribe: true))
            batch.message(stored(will, topic: "meter/gone"))
            batch.will(clientId: "meter", message: will, deadline: now + 60_000_000_000)
            batch.dedup(topic: "orders", id: "order-1", seenAt: now)
            batch.sent(queue: reader, message: m1, packetId: 11)
            batch.released(queue: reader, message: m1)
            batch.sent(queue: reader, message: m2, packetId: 12)
            commit(storage, &batch, expected: &expected)

            fill(storage, queue: filler, untilCheckpoints: 1, expected: &expected)
            nextMessageIdAtClose = storage.nextMessageId()
            storage.close()

            let (numbers, oldestIsACheckpoint) = try segments()
            #expect(numbers.first != 1)
            #expect(oldestIsACheckpoint)
        }

        let (storage, _) = try Storage.open(options)
        defer { storage.close() }
        let recovered = storage.withRecoveredState { $0 }
        expected.state.sweepUnreferenced()
        #expect(LiveState(recovered) == LiveState(expected.state))

        // Not two empty states: what was written is there.
        let queue = try #require(recovered.queues[reader])
        #expect(queue.queuedInOrder.map(\.0) == [m1, m2, retained])
        #expect(queue.entries[m1]?.packetId == 11)
        #expect(queue.entries[m1]?.released == true)
        #expect(queue.entries[m2]?.packetId == 12)
        #expect(queue.entries[m2]?.released == false)
        #expect(queue.entries[retained]?.entry.onSubscribe == true)
        #expect(queue.subscriptions["sensors/#"]?.options == 0b0010_0110)
        #expect(queue.subscriptions["sensors/#"]?.identifier == 12)
        #expect(queue.inbound == [7])
        #expect(recovered.queues[meter]?.entries[m1]?.entry.subscriptionIds == [5])
        #expect(recovered.queues[meter]?.expiresAt == now + 3_600_000_000_000)
        #expect(recovered.queues[workers]?.kind == .group(name: "workers", filter: "jobs/#"))
        #expect(recovered.queues[workers]?.entries[m3]?.entry.attempts == 2)
        #expect(recovered.retained == ["status": retained])
        #expect(recovered.messages[retained]?.references == 2)
        #expect(recovered.messages[m1]?.references == 2)
        #expect(recovered.wills["meter"]?.message == will)
        #expect(recovered.wills["meter"]?.deadline == now + 60_000_000_000)
        #expect(recovered.dedup == ["orders\u{0}order-1": now])
        #expect(recovered.nextMessageId == nextMessageIdAtClose)
        #expect(recovered.nextQueueId == filler + 1)
        #expect(recovered.early.isEmpty == false)
        #expect(recovered.body(of: m1).map { String(buffer: $0.payload) } == "payload")

        // The lost message turns up after all: the early records kept by the
        // checkpoint still apply to it.
        var late = MemoryLog(.inPlace, keepsBodies: true)
        late.state = recovered
        late.write { $0.message(stored(lost, qos: 2), targets: [reader, meter].map { QueueEntry(queue: $0, message: 0, qos: 2) }) }
        #expect(late.state.queues[meter]?.entries[lost] == nil)
        #expect(late.state.queues[reader]?.entries[lost]?.packetId == 13)
        #expect(late.state.queues[reader]?.entries[lost]?.released == true)
    }

    /// The first checkpoint copies records still waiting for their message;
    /// the second drops them. A restart reads them afresh, so they wait
    /// through one more checkpoint after it.
    @Test func earlyRecordsWhoseMessageNeverComesLeaveTheLogAtTheSecondCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expected = MemoryLog(.inPlace)
        for round in 0..<2 {
            let (storage, _) = try Storage.open(options)
            try storage.start()
            var batch = StorageBatch()
            if round == 0 {
                batch.session(queue: storage.nextQueueId(), clientId: "reader", expiryInterval: UInt32.max)
                batch.remove(queue: 1, message: storage.nextMessageId())
                batch.sent(queue: 1, message: storage.nextMessageId(), packetId: 4)
                batch.enqueue(QueueEntry(queue: 1, message: storage.nextMessageId(), qos: 1))
                commit(storage, &batch, expected: &expected)
            }
            fill(storage, queue: 1, untilCheckpoints: round + 1, expected: &expected)
            storage.close()
            let (state, _) = try Storage.inspect(directory)
            #expect(try segments().oldestIsACheckpoint)
            #expect(state.queues[1]?.kind == .session(clientId: "reader", expiryInterval: UInt32.max))
            if round == 0 {
                #expect(state.early.removals.keys.map(\.message) == [1])
                #expect(state.early.handshakes.keys.map(\.message) == [2])
                #expect(state.early.enqueues.keys.sorted() == [3])
            } else {
                #expect(state.early.isEmpty)
            }
        }
    }

    /// A retained message sent on subscribe is queued behind what the
    /// session already held, and recovery without a checkpoint restores that
    /// order (`StorageRecoveryTests.aQueueComesBackInTheOrderItWasQueued`).
    /// The writer's state keeps no order, and a checkpoint writes entries by
    /// message id, so after one the older retained message comes first.
    @Test func aQueueComesBackInTheOrderItWasQueuedAfterACheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expected = MemoryLog(.inPlace)
        do {
            let (storage, _) = try Storage.open(options)
            try storage.start()
            let (reader, filler) = (storage.nextQueueId(), storage.nextQueueId())
            let (retained, queued) = (storage.nextMessageId(), storage.nextMessageId())
            var batch = StorageBatch()
            batch.session(queue: reader, clientId: "reader", expiryInterval: UInt32.max)
            batch.session(queue: filler, clientId: "filler", expiryInterval: UInt32.max)
            batch.message(stored(retained, topic: "status"))
            batch.retain(topic: "status", message: retained)
            batch.message(stored(queued), targets: [QueueEntry(queue: reader, message: 0, qos: 1)])
            batch.enqueue(QueueEntry(queue: reader, message: retained, qos: 1, retain: true, onSubscribe: true))
            commit(storage, &batch, expected: &expected)
            fill(storage, queue: filler, untilCheckpoints: 1, expected: &expected)
            storage.close()
        }
        let (storage, _) = try Storage.open(options)
        defer { storage.close() }
        let order = try #require(storage.withRecoveredState { $0.queues[1]?.queuedInOrder.map(\.0) })
        #expect(Set(order) == [1, 2])
        withKnownIssue("a checkpoint restores queue order as message id order (issue 15 report)") {
            #expect(order == [2, 1])
        }
    }
}
