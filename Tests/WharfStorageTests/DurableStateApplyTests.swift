import NIOCore
import Testing

@testable import WharfStorage

/// `DurableState` as a pure state machine: records built by `StorageBatch`,
/// applied in order, and what the state then says is live. Every test runs
/// both ways a record can be applied (decoded, or read in place as the
/// writer and recovery do).
@Suite struct DurableStateApplyTests {
    /// Two sessions and a consumer group, the queues most tests write to.
    func threeQueues(_ path: ApplyPath) -> MemoryLog {
        var log = MemoryLog(path)
        log.write { batch in
            batch.session(queue: 1, clientId: "sensor-a", expiryInterval: 3600)
            batch.session(queue: 2, clientId: "sensor-b", expiryInterval: UInt32.max)
            batch.group(queue: 3, name: "workers", filter: "jobs/#")
        }
        return log
    }

    @Test(arguments: ApplyPath.allCases)
    func aMessageForSeveralQueuesGivesEachAnEntryAndOneReferenceEach(path: ApplyPath) throws {
        var log = threeQueues(path)
        log.write { batch in
            batch.beginMessage(stored(1, qos: 2, expiresAt: 1_900_000_000_000_000_000))
            batch.addTarget(queue: 1, qos: 1, retain: false, subscriptionIds: [4, 5])
            batch.addTarget(queue: 2, qos: 2, retain: true)
            batch.addTarget(queue: 3, qos: 2, retain: false)
            batch.endMessage()
        }
        let state = log.state
        let info = try #require(state.messages[1])
        #expect(info.references == 3)
        #expect(info.expiresAt == 1_900_000_000_000_000_000)
        #expect(info.location == log.messageLocations[1])
        #expect(state.liveMessageBytes == log.bytes(of: 1))
        #expect(state.queues[1]?.entries[1]?.entry == QueueEntry(queue: 1, message: 1, qos: 1, subscriptionIds: [4, 5]))
        #expect(state.queues[2]?.entries[1]?.entry == QueueEntry(queue: 2, message: 1, qos: 2, retain: true))
        #expect(state.queues[3]?.entries[1]?.entry == QueueEntry(queue: 3, message: 1, qos: 2))
        #expect(state.queues[1]?.entries[1]?.packetId == nil)
        #expect(state.queues[1]?.entries[1]?.released == false)
    }

    @Test(arguments: ApplyPath.allCases)
    func removingItFromEveryQueueDropsTheMessageWithItsLastReference(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1), targets: [1, 2, 3].map { QueueEntry(queue: $0, message: 0, qos: 1) })
            batch.message(stored(2), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
        }
        let both = log.bytes(of: 1) + log.bytes(of: 2)
        #expect(log.state.liveMessageBytes == both)

        log.write { $0.remove(queue: 2, message: 1) }
        #expect(log.state.messages[1]?.references == 2)
        #expect(log.state.queues[2]?.entries[1] == nil)
        log.write { $0.remove(queue: 1, message: 1) }
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.liveMessageBytes == both)
        log.write { $0.remove(queue: 3, message: 1) }
        #expect(log.state.messages[1] == nil)
        #expect(log.state.liveMessageBytes == log.bytes(of: 2))
        #expect(log.state.queues[1]?.entries.keys.sorted() == [2])
        #expect(log.state.messages[2]?.references == 1)
    }

    @Test(arguments: ApplyPath.allCases)
    func aSecondRemovalOfTheSameEntryDoesNotTakeAnotherReference(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { $0.message(stored(1), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 1) }) }
        log.write { batch in
            batch.remove(queue: 1, message: 1)
            batch.remove(queue: 1, message: 1)
        }
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.queues[2]?.entries[1] != nil)
    }

    @Test(arguments: ApplyPath.allCases)
    func sentAndReleasedRecordQos2ProgressForThatQueueOnly(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { $0.message(stored(1, qos: 2), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 2) }) }
        log.write { $0.sent(queue: 1, message: 1, packetId: 7) }
        #expect(log.state.queues[1]?.entries[1]?.packetId == 7)
        #expect(log.state.queues[1]?.entries[1]?.released == false)
        log.write { $0.released(queue: 1, message: 1) }
        #expect(log.state.queues[1]?.entries[1]?.packetId == 7)
        #expect(log.state.queues[1]?.entries[1]?.released == true)
        #expect(log.state.queues[2]?.entries[1]?.packetId == nil)
        #expect(log.state.queues[2]?.entries[1]?.released == false)
        // PUBCOMP: the entry goes, and with it the reference.
        log.write { $0.remove(queue: 1, message: 1) }
        #expect(log.state.queues[1]?.entries[1] == nil)
        #expect(log.state.messages[1]?.references == 1)
    }

    /// A retained message sent to a new subscription: an enqueue record for
    /// a message already logged.
    @Test(arguments: ApplyPath.allCases)
    func enqueueingAKnownMessageAddsAnEntryAndAReference(path: ApplyPath) throws {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1))
            batch.retain(topic: "sensors/1", message: 1)
        }
        #expect(log.state.messages[1]?.references == 1)
        log.write { $0.enqueue(QueueEntry(queue: 2, message: 1, qos: 1, retain: true, onSubscribe: true, subscriptionIds: [9])) }
        #expect(log.state.messages[1]?.references == 2)
        let entry = try #require(log.state.queues[2]?.entries[1])
        #expect(entry.entry == QueueEntry(queue: 2, message: 1, qos: 1, retain: true, onSubscribe: true, subscriptionIds: [9]))
        // The same entry again holds no second reference.
        log.write { $0.enqueue(QueueEntry(queue: 2, message: 1, qos: 1, retain: true, onSubscribe: true)) }
        #expect(log.state.messages[1]?.references == 2)
        log.write { $0.remove(queue: 2, message: 1) }
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.retained["sensors/1"] == 1)
    }

    @Test(arguments: ApplyPath.allCases)
    func entriesForAQueueThatDoesNotExistAreNotKept(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1), targets: [QueueEntry(queue: 1, message: 0, qos: 1), QueueEntry(queue: 9, message: 0, qos: 1)])
            batch.enqueue(QueueEntry(queue: 8, message: 1, qos: 1))
        }
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.queues[9] == nil)
        #expect(log.state.queues[8] == nil)
    }

    /// Written for a queue that ended in the meantime: nothing holds it, and
    /// the next checkpoint leaves it out.
    @Test(arguments: ApplyPath.allCases)
    func aMessageNothingHoldsIsSweptAtACheckpoint(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1), targets: [QueueEntry(queue: 9, message: 0, qos: 1)])
            batch.message(stored(2), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
        }
        #expect(log.state.messages[1]?.references == 0)
        log.state.sweepUnreferenced()
        #expect(log.state.messages[1] == nil)
        #expect(log.state.messages[2]?.references == 1)
        #expect(log.state.liveMessageBytes == log.bytes(of: 2))
    }

    @Test(arguments: ApplyPath.allCases)
    func sessionRecordsCreateUpdateAndTakeOffline(path: ApplyPath) throws {
        var log = MemoryLog(path)
        log.write { batch in
            batch.session(queue: 5, clientId: "meter", expiryInterval: 60)
            batch.message(stored(1), targets: [QueueEntry(queue: 5, message: 0, qos: 1)])
            batch.subscribe(queue: 5, filter: "meters/#", options: 1, identifier: 0)
        }
        #expect(log.state.queues[5]?.kind == .session(clientId: "meter", expiryInterval: 60))
        #expect(log.state.queues[5]?.expiresAt == 0)
        // The client reconnects with a new expiry interval: nothing else changes.
        log.write { $0.session(queue: 5, clientId: "meter", expiryInterval: 600) }
        let queue = try #require(log.state.queues[5])
        #expect(queue.kind == .session(clientId: "meter", expiryInterval: 600))
        #expect(queue.entries.keys.sorted() == [1])
        #expect(queue.subscriptions.keys.sorted() == ["meters/#"])
        #expect(log.state.messages[1]?.references == 1)
        log.write { $0.sessionOffline(queue: 5, expiresAt: 1_800_000_000_000_000_000) }
        #expect(log.state.queues[5]?.expiresAt == 1_800_000_000_000_000_000)
        log.write { $0.sessionOffline(queue: 5, expiresAt: 0) }
        #expect(log.state.queues[5]?.expiresAt == 0)
        log.write { $0.sessionOffline(queue: 6, expiresAt: 1) }
        #expect(log.state.queues[6] == nil)
    }

    @Test(arguments: ApplyPath.allCases)
    func aSessionEndDropsItsQueueAndTheReferencesItsEntriesHeld(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 1) })
            batch.message(stored(2), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
            batch.subscribe(queue: 1, filter: "sensors/#", options: 1, identifier: 0)
        }
        log.write { $0.sessionEnd(queue: 1) }
        #expect(log.state.queues[1] == nil)
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.messages[2] == nil)
        #expect(log.state.liveMessageBytes == log.bytes(of: 1))
        log.write { $0.sessionEnd(queue: 2) }
        #expect(log.state.messages.isEmpty)
        #expect(log.state.liveMessageBytes == 0)
        #expect(log.state.queues.keys.sorted() == [3])
    }

    @Test(arguments: ApplyPath.allCases)
    func subscriptionsKeepTheirOptionsAndIdentifier(path: ApplyPath) throws {
        var log = threeQueues(path)
        log.write { batch in
            batch.subscribe(queue: 1, filter: "sensors/+/temp", options: 0b0010_1110, identifier: 268_435_455)
            batch.subscribe(queue: 1, filter: "alerts/#", options: 2, identifier: 0)
            batch.subscribe(queue: 9, filter: "lost/#", options: 1, identifier: 1)
        }
        var subscriptions = try #require(log.state.queues[1]).subscriptions
        #expect(subscriptions.count == 2)
        #expect(subscriptions["sensors/+/temp"]?.options == 0b0010_1110)
        #expect(subscriptions["sensors/+/temp"]?.identifier == 268_435_455)
        #expect(subscriptions["alerts/#"]?.options == 2)
        #expect(log.state.queues[9] == nil)
        // Subscribing again replaces; unsubscribing removes that filter only.
        log.write { batch in
            batch.subscribe(queue: 1, filter: "sensors/+/temp", options: 1, identifier: 3)
            batch.unsubscribe(queue: 1, filter: "alerts/#")
        }
        subscriptions = try #require(log.state.queues[1]).subscriptions
        #expect(subscriptions.keys.sorted() == ["sensors/+/temp"])
        #expect(subscriptions["sensors/+/temp"]?.options == 1)
        #expect(subscriptions["sensors/+/temp"]?.identifier == 3)
    }

    @Test(arguments: ApplyPath.allCases)
    func aGroupKeepsItsNameAndFilterAndItsEndReleasesItsEntries(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { $0.message(stored(1), targets: [2, 3].map { QueueEntry(queue: $0, message: 0, qos: 1) }) }
        // A group record for a group that exists changes nothing.
        log.write { $0.group(queue: 3, name: "other", filter: "other/#") }
        #expect(log.state.queues[3]?.kind == .group(name: "workers", filter: "jobs/#"))
        #expect(log.state.queues[3]?.entries.keys.sorted() == [1])
        log.write { $0.groupEnd(queue: 3) }
        #expect(log.state.queues[3] == nil)
        #expect(log.state.messages[1]?.references == 1)
        log.write { $0.remove(queue: 2, message: 1) }
        #expect(log.state.messages[1] == nil)
    }

    @Test(arguments: ApplyPath.allCases)
    func aRetainedMessageIsSetReplacedAndClearedAndHoldsItsMessageMeanwhile(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1, topic: "status"))
            batch.retain(topic: "status", message: 1)
        }
        #expect(log.state.retained == ["status": 1])
        #expect(log.state.messages[1]?.references == 1)
        // The same message again nets out.
        log.write { $0.retain(topic: "status", message: 1) }
        #expect(log.state.messages[1]?.references == 1)
        // Replaced: the old message had no other holder.
        log.write { batch in
            batch.message(stored(2, topic: "status"))
            batch.retain(topic: "status", message: 2)
        }
        #expect(log.state.retained == ["status": 2])
        #expect(log.state.messages[1] == nil)
        #expect(log.state.messages[2]?.references == 1)
        #expect(log.state.liveMessageBytes == log.bytes(of: 2))
        // Cleared by an empty retained publish.
        log.write { $0.retain(topic: "status", message: 0) }
        #expect(log.state.retained.isEmpty)
        #expect(log.state.messages.isEmpty)
        #expect(log.state.liveMessageBytes == 0)
    }

    @Test(arguments: ApplyPath.allCases)
    func clearingARetainedMessageThatIsStillQueuedKeepsIt(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1, topic: "status"), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
            batch.retain(topic: "status", message: 1)
        }
        #expect(log.state.messages[1]?.references == 2)
        log.write { $0.retain(topic: "status", message: 0) }
        #expect(log.state.retained["status"] == nil)
        #expect(log.state.messages[1]?.references == 1)
        #expect(log.state.queues[1]?.entries[1] != nil)
    }

    @Test(arguments: ApplyPath.allCases)
    func aWillIsSetReplacedAndClearedAndHoldsItsMessageMeanwhile(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1, topic: "last-will"))
            batch.will(clientId: "sensor-a", message: 1, deadline: 1_750_000_000_000_000_000)
        }
        #expect(log.state.wills["sensor-a"]?.message == 1)
        #expect(log.state.wills["sensor-a"]?.deadline == 1_750_000_000_000_000_000)
        #expect(log.state.messages[1]?.references == 1)
        log.write { batch in
            batch.message(stored(2, topic: "last-will"))
            batch.will(clientId: "sensor-a", message: 2, deadline: 1_760_000_000_000_000_000)
        }
        #expect(log.state.wills["sensor-a"]?.message == 2)
        #expect(log.state.wills["sensor-a"]?.deadline == 1_760_000_000_000_000_000)
        #expect(log.state.messages[1] == nil)
        // Sent, or the client came back: message 0.
        log.write { $0.will(clientId: "sensor-a", message: 0, deadline: 0) }
        #expect(log.state.wills.isEmpty)
        #expect(log.state.messages.isEmpty)
        #expect(log.state.liveMessageBytes == 0)
    }

    @Test(arguments: ApplyPath.allCases)
    func inboundQos2IdsWaitForTheirRelease(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.inbound(queue: 1, packetId: 7, awaiting: true)
            batch.inbound(queue: 1, packetId: 8, awaiting: true)
            batch.inbound(queue: 2, packetId: 7, awaiting: true)
        }
        #expect(log.state.queues[1]?.inbound == [7, 8])
        log.write { $0.inbound(queue: 1, packetId: 7, awaiting: false) }
        #expect(log.state.queues[1]?.inbound == [8])
        #expect(log.state.queues[2]?.inbound == [7])
    }

    @Test(arguments: ApplyPath.allCases)
    func dedupIdsAreKeptPerTopicWithTheLatestTimeAndPrunedByAge(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.dedup(topic: "orders", id: "a-1", seenAt: 100)
            batch.dedup(topic: "invoices", id: "a-1", seenAt: 200)
            batch.dedup(topic: "orders", id: "a-1", seenAt: 300)
        }
        #expect(log.state.dedup == ["orders\u{0}a-1": 300, "invoices\u{0}a-1": 200])
        log.state.prune(dedupBefore: 250)
        #expect(log.state.dedup == ["orders\u{0}a-1": 300])
    }

    @Test(arguments: ApplyPath.allCases)
    func nextIdsAdvancePastEveryMessageAndQueueLogged(path: ApplyPath) {
        var log = MemoryLog(path)
        #expect(log.state.nextMessageId == 1)
        #expect(log.state.nextQueueId == 1)
        log.write { batch in
            batch.session(queue: 9, clientId: "c", expiryInterval: 0)
            batch.group(queue: 4, name: "g", filter: "f")
            batch.message(stored(41))
            batch.message(stored(7))
        }
        #expect(log.state.nextMessageId == 42)
        #expect(log.state.nextQueueId == 10)
        // A message nothing held still used its id: gone is not reusable.
        log.state.sweepUnreferenced()
        #expect(log.state.messages.isEmpty)
        #expect(log.state.nextMessageId == 42)
        log.write { $0.checkpointBegin(nextMessageId: 100, nextQueueId: 50) }
        #expect(log.state.nextMessageId == 100)
        #expect(log.state.nextQueueId == 50)
        log.write { $0.checkpointBegin(nextMessageId: 3, nextQueueId: 3) }
        #expect(log.state.nextMessageId == 100)
        #expect(log.state.nextQueueId == 50)
    }

    /// A message's expiry passed: it leaves every queue (nobody logs that),
    /// and the retained topic holding it keeps it.
    @Test(arguments: ApplyPath.allCases)
    func expiredMessagesLeaveTheirQueues(path: ApplyPath) {
        var log = threeQueues(path)
        log.write { batch in
            batch.message(stored(1, expiresAt: 1_000), targets: [1, 2].map { QueueEntry(queue: $0, message: 0, qos: 1) })
            batch.message(stored(2, expiresAt: 1_000), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
            batch.retain(topic: "sensors/2", message: 2)
            batch.message(stored(3, expiresAt: 5_000), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
            batch.message(stored(4), targets: [QueueEntry(queue: 1, message: 0, qos: 1)])
        }
        log.state.dropExpired(before: 1_000)
        #expect(log.state.queues[1]?.entries.keys.sorted() == [3, 4])
        #expect(log.state.queues[2]?.entries.isEmpty == true)
        #expect(log.state.messages[1] == nil)
        #expect(log.state.messages[2]?.references == 1)
        #expect(log.state.liveMessageBytes == log.bytes(of: 2) + log.bytes(of: 3) + log.bytes(of: 4))
    }
}
