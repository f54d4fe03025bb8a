import NIOCore
import Testing

@testable import WharfStorage

/// Records about a message that reach the log before the message record
/// itself: each connection commits its own batch, so a subscriber's
/// acknowledgement (or QoS 2 progress, or a consumer group's handover) can
/// overtake the publisher's batch. They must take effect when it arrives.
@Suite struct DurableStateEarlyRecordTests {
    func twoSessions(_ path: ApplyPath) -> MemoryLog {
        var log = MemoryLog(path)
        log.write { batch in
            batch.session(queue: 1, clientId: "reader-1", expiryInterval: UInt32.max)
            batch.session(queue: 2, clientId: "reader-2", expiryInterval: UInt32.max)
        }
        return log
    }

    /// The publisher's batch: message `id` for both sessions.
    func publish(_ id: UInt64, to queues: [UInt64] = [1, 2], in log: inout MemoryLog) {
        log.write { $0.message(stored(id, qos: 2), targets: queues.map { QueueEntry(queue: $0, message: 0, qos: 2) }) }
    }

    @Test(arguments: ApplyPath.allCases)
    func aRemovalLoggedBeforeItsMessageMeansThatQueueNeverHoldsIt(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { $0.remove(queue: 1, message: 5) }
        #expect(log.state.early.removals.keys.contains(DurableState.QueueMessage(queue: 1, message: 5)))
        publish(5, in: &log)
        #expect(log.state.queues[1]?.entries[5] == nil)
        #expect(log.state.queues[2]?.entries[5] != nil)
        #expect(log.state.messages[5]?.references == 1)
        #expect(log.state.early.isEmpty)
        // The removal was used up: the message later queued there again stays.
        log.write { $0.enqueue(QueueEntry(queue: 1, message: 5, qos: 1, onSubscribe: true)) }
        #expect(log.state.queues[1]?.entries[5] != nil)
        #expect(log.state.messages[5]?.references == 2)
    }

    /// Every queue acknowledged it first: nothing holds the message, and the
    /// next checkpoint does not copy it.
    @Test(arguments: ApplyPath.allCases)
    func aMessageEveryQueueRemovedEarlyIsSweptAtTheNextCheckpoint(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.remove(queue: 1, message: 5)
            batch.remove(queue: 2, message: 5)
        }
        publish(5, in: &log)
        #expect(log.state.queues[1]?.entries.isEmpty == true)
        #expect(log.state.queues[2]?.entries.isEmpty == true)
        #expect(log.state.messages[5]?.references == 0)
        log.state.sweepUnreferenced()
        #expect(log.state.messages[5] == nil)
        #expect(log.state.liveMessageBytes == 0)
    }

    @Test(arguments: ApplyPath.allCases)
    func qos2ProgressLoggedBeforeItsMessageKeepsItsPacketId(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.sent(queue: 1, message: 5, packetId: 9)
            batch.released(queue: 1, message: 5)
            batch.sent(queue: 2, message: 5, packetId: 10)
        }
        #expect(log.state.queues[1]?.entries.isEmpty == true)
        publish(5, in: &log)
        #expect(log.state.queues[1]?.entries[5]?.packetId == 9)
        #expect(log.state.queues[1]?.entries[5]?.released == true)
        #expect(log.state.queues[2]?.entries[5]?.packetId == 10)
        #expect(log.state.queues[2]?.entries[5]?.released == false)
        #expect(log.state.messages[5]?.references == 2)
        #expect(log.state.early.isEmpty)
    }

    /// A group member's PUBREC moves the message from the group's queue to
    /// the member's: enqueue there, QoS 2 progress, removal from the group.
    @Test(arguments: ApplyPath.allCases)
    func aGroupHandoverLoggedBeforeItsMessageLandsWithTheMember(path: ApplyPath) throws {
        var log = MemoryLog(path)
        log.write { batch in
            batch.group(queue: 1, name: "workers", filter: "jobs/#")
            batch.session(queue: 2, clientId: "worker-1", expiryInterval: UInt32.max)
        }
        log.write { batch in
            batch.enqueue(QueueEntry(queue: 2, message: 5, qos: 2, subscriptionIds: [3], attempts: 1))
            batch.sent(queue: 2, message: 5, packetId: 40)
            batch.released(queue: 2, message: 5)
            batch.remove(queue: 1, message: 5)
        }
        #expect(log.state.queues[2]?.entries.isEmpty == true)
        publish(5, to: [1], in: &log)
        #expect(log.state.queues[1]?.entries.isEmpty == true)
        let entry = try #require(log.state.queues[2]?.entries[5])
        #expect(entry.entry == QueueEntry(queue: 2, message: 5, qos: 2, subscriptionIds: [3], attempts: 1))
        #expect(entry.packetId == 40)
        #expect(entry.released)
        #expect(log.state.messages[5]?.references == 1)
        #expect(log.state.early.isEmpty)
    }

    /// Records for a queue the log does not know can never apply.
    @Test(arguments: ApplyPath.allCases)
    func earlyRecordsForAQueueThatDoesNotExistAreNotKept(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.remove(queue: 9, message: 5)
            batch.sent(queue: 9, message: 5, packetId: 1)
            batch.released(queue: 9, message: 5)
            batch.enqueue(QueueEntry(queue: 9, message: 5, qos: 1))
        }
        #expect(log.state.early.isEmpty)
    }

    /// Records about a message that came and went (acknowledged twice, or
    /// after its expiry) are held as early, and age out like any other.
    @Test(arguments: ApplyPath.allCases)
    func recordsAboutAMessageAlreadyGoneChangeNothingLive(path: ApplyPath) {
        var log = twoSessions(path)
        publish(5, to: [1], in: &log)
        log.write { $0.remove(queue: 1, message: 5) }
        #expect(log.state.messages[5] == nil)
        log.write { batch in
            batch.remove(queue: 1, message: 5)
            batch.sent(queue: 2, message: 5, packetId: 3)
        }
        #expect(log.state.messages[5] == nil)
        #expect(log.state.queues[1]?.entries.isEmpty == true)
        #expect(log.state.queues[2]?.entries.isEmpty == true)
        log.state.ageEarlyRecords()
        log.state.ageEarlyRecords()
        #expect(log.state.early.isEmpty)
    }

    /// A checkpoint in between (the publisher's batch was merely slow).
    @Test(arguments: ApplyPath.allCases)
    func earlyRecordsStillApplyAfterOneCheckpoint(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.remove(queue: 1, message: 5)
            batch.sent(queue: 2, message: 5, packetId: 10)
        }
        log.state.ageEarlyRecords()
        publish(5, in: &log)
        #expect(log.state.queues[1]?.entries[5] == nil)
        #expect(log.state.queues[2]?.entries[5]?.packetId == 10)
    }

    /// Its publisher's batch died with the broker: they wait through one
    /// checkpoint and are dropped at the second. The queue ids stay, so
    /// forgotten records would otherwise be copied by every checkpoint.
    @Test(arguments: ApplyPath.allCases)
    func earlyRecordsAreDroppedAtTheSecondCheckpointAfterTheyWereRead(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.remove(queue: 1, message: 5)
            batch.sent(queue: 2, message: 5, packetId: 10)
            batch.enqueue(QueueEntry(queue: 2, message: 6, qos: 1))
        }
        log.state.ageEarlyRecords()
        // Read after the first checkpoint: these have one more to wait through.
        log.write { $0.remove(queue: 1, message: 7) }
        log.state.ageEarlyRecords()
        #expect(log.state.early.removals.keys.map(\.message) == [7])
        #expect(log.state.early.handshakes.isEmpty)
        #expect(log.state.early.enqueues.isEmpty)
        log.state.ageEarlyRecords()
        #expect(log.state.early.isEmpty)
    }

    /// The early records are gone: a message arriving after that is queued
    /// as if they had never been read.
    @Test(arguments: ApplyPath.allCases)
    func aMessageArrivingAfterItsEarlyRecordsWereDroppedIsQueuedWithoutThem(path: ApplyPath) {
        var log = twoSessions(path)
        log.write { batch in
            batch.remove(queue: 1, message: 5)
            batch.sent(queue: 2, message: 5, packetId: 10)
        }
        log.state.ageEarlyRecords()
        log.state.ageEarlyRecords()
        publish(5, in: &log)
        #expect(log.state.queues[1]?.entries[5] != nil)
        #expect(log.state.queues[2]?.entries[5]?.packetId == nil)
        #expect(log.state.messages[5]?.references == 2)
    }

    /// The early records of a message whose publisher's batch was lost in a
    /// crash outlive the restart (they are in the log, and wait through a
    /// checkpoint). Recovery takes the next message id from the message
    /// records it read, so the restarted broker can hand the lost message's
    /// id to a new publish, which then inherits the old records: here, the
    /// subscriber's acknowledgement of the lost message removes the new one
    /// from its queue before it is ever delivered.
    @Test(arguments: ApplyPath.allCases)
    func aMessageIdSeenOnlyInEarlyRecordsIsNotHandedOutAgain(path: ApplyPath) {
        var log = twoSessions(path)
        publish(1, in: &log)
        // Message 2 went to the subscriber, which acknowledged it (QoS 1)
        // or got it at QoS 2; the publisher's batch never reached the log.
        log.write { batch in
            batch.remove(queue: 1, message: 2)
            batch.sent(queue: 2, message: 2, packetId: 77)
            batch.released(queue: 2, message: 2)
        }
        #expect(log.state.nextMessageId > 2, "an id seen only in early records is not handed out again")
        // After the restart the broker numbers its next publish from nextMessageId.
        let reused = log.state.nextMessageId
        publish(reused, in: &log)
        #expect(log.state.queues[1]?.entries[reused] != nil, "the next message does not inherit the lost one's early records")
        #expect(log.state.queues[2]?.entries[reused]?.packetId == nil)
        #expect(log.state.queues[2]?.entries[reused]?.released == false)
    }
}
