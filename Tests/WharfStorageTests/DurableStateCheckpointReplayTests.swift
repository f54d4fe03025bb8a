import NIOCore
import Testing

@testable import WharfStorage

/// How `DurableState` reads a checkpoint (records between checkpointBegin
/// and checkpointEnd at the start of a segment), in memory.
@Suite struct DurableStateCheckpointReplayTests {
    @Test(arguments: ApplyPath.allCases)
    func insideACheckpointMessageTargetsAreIgnoredAndEnqueueRecordsRebuildTheQueues(path: ApplyPath) throws {
        var log = MemoryLog(path)
        log.write { batch in
            batch.checkpointBegin(nextMessageId: 10, nextQueueId: 3)
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.group(queue: 2, name: "workers", filter: "jobs/#")
            // Copied byte for byte from where it sat: its original targets are still in it.
            batch.message(stored(5, qos: 2), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 2) })
            batch.enqueue(QueueEntry(queue: 1, message: 5, qos: 2))
            batch.sent(queue: 1, message: 5, packetId: 7)
            batch.released(queue: 1, message: 5)
            batch.checkpointEnd()
        }
        #expect(log.state.messages[5]?.references == 1)
        #expect(log.state.queues[2]?.entries.isEmpty == true)
        let entry = try #require(log.state.queues[1]?.entries[5])
        #expect(entry.packetId == 7)
        #expect(entry.released)
        #expect(log.state.nextMessageId == 10)
        #expect(log.state.nextQueueId == 3)
        // After the checkpoint, a message's targets count again.
        log.write { $0.message(stored(10), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 1) }) }
        #expect(log.state.messages[10]?.references == 2)
    }

    /// The writer died while writing a checkpoint: the next segment is read normally.
    @Test(arguments: ApplyPath.allCases)
    func aNewSegmentEndsACheckpointThatWasCutShort(path: ApplyPath) {
        var log = MemoryLog(path)
        log.write { batch in
            batch.checkpointBegin(nextMessageId: 1, nextQueueId: 2)
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
        }
        log.startSegment()
        log.write { $0.message(stored(5), targets: [QueueEntry(queue: 1, message: 0, qos: 1)]) }
        #expect(log.state.queues[1]?.entries[5] != nil)
        #expect(log.state.messages[5]?.references == 1)
    }

    /// Recovery reads the old segments, then the checkpoint that summarises
    /// them (when the writer stopped before deleting them): the copy moves
    /// the message, and nothing is counted twice.
    @Test(arguments: ApplyPath.allCases)
    func aCheckpointReadAfterTheLogItSummarisesChangesNothingButLocations(path: ApplyPath) throws {
        var log = MemoryLog(path)
        log.write { batch in
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.message(stored(5, qos: 2), targets: [QueueEntry(queue: 1, message: 0, qos: 2)])
            batch.sent(queue: 1, message: 5, packetId: 7)
            batch.message(stored(6, topic: "status"))
            batch.retain(topic: "status", message: 6)
        }
        let before = LiveState(log.state)
        let bytes = log.state.liveMessageBytes
        log.startSegment()
        log.write { batch in
            batch.checkpointBegin(nextMessageId: 7, nextQueueId: 2)
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.message(stored(5, qos: 2), targets: [QueueEntry(queue: 1, message: 0, qos: 2)])
            batch.message(stored(6, topic: "status"))
            batch.enqueue(QueueEntry(queue: 1, message: 5, qos: 2))
            batch.sent(queue: 1, message: 5, packetId: 7)
            batch.retain(topic: "status", message: 6)
            batch.checkpointEnd()
        }
        #expect(LiveState(log.state) == before)
        #expect(log.state.liveMessageBytes == bytes)
        #expect(log.state.messages[5]?.location.segment == 2)
        #expect(log.state.messages[6]?.location == log.messageLocations[6])
    }

    /// The same, but the writer died in the middle of the checkpoint's last
    /// write, right after an entry's enqueue record and before its `sent`
    /// and `released`. That segment is the newest, so recovery keeps its
    /// whole records and replays them over the old segments: the enqueue
    /// record for an entry the queue already holds replaces it, and its QoS 2
    /// progress is lost. The broker then sends the message again as a new
    /// PUBLISH under a new packet id (instead of PUBREL, or a duplicate
    /// under the old id), which the subscriber takes as a second message.
    @Test(arguments: ApplyPath.allCases)
    func aCheckpointCutShortAfterAnEnqueueRecordKeepsThatEntrysQos2Progress(path: ApplyPath) throws {
        var log = MemoryLog(path)
        log.write { batch in
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.message(stored(5, qos: 2), targets: [QueueEntry(queue: 1, message: 0, qos: 2)])
            batch.sent(queue: 1, message: 5, packetId: 7)
            batch.released(queue: 1, message: 5)
        }
        log.startSegment()
        log.write { batch in
            batch.checkpointBegin(nextMessageId: 6, nextQueueId: 2)
            batch.session(queue: 1, clientId: "reader", expiryInterval: UInt32.max)
            batch.message(stored(5, qos: 2), targets: [QueueEntry(queue: 1, message: 0, qos: 2)])
            batch.enqueue(QueueEntry(queue: 1, message: 5, qos: 2))
        }
        log.startSegment()  // the restarted writer's segment
        let entry = try #require(log.state.queues[1]?.entries[5])
        #expect(log.state.messages[5]?.references == 1)
        #expect(entry.packetId == 7, "an enqueue record for an entry the queue holds keeps its QoS 2 progress")
        #expect(entry.released)
    }
}
