import Foundation
import NIOCore
import Synchronization
import Testing
import WharfMQTT
import WharfStorage

@testable import WharfCore

/// The local log as a `BrokerJournal`: the ordering contract on a real data
/// directory, and the framing of effects (one record per published message
/// whatever the number of queues taking it).
@Suite struct LocalLogJournalTests {
    let directory = NSTemporaryDirectory() + "wharf-local-log-journal-" + UUID().uuidString

    private func open() throws -> LocalLogJournal {
        let (journal, _) = try LocalLogJournal.open(LocalLogOptions(directory: directory))
        try journal.start()
        return journal
    }

    private func message(_ id: UInt64, _ topic: String) -> Message {
        Message(topic: topic, payload: ByteBuffer(string: topic), qos: .atLeastOnce, retain: false, journalId: id)
    }

    /// Contract 1: a commit's callback means every commit made before it,
    /// by any writer, is durable too.
    @Test func aCommitsCallbackCoversEveryEarlierCommit() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try open()
        let queue = try #require(journal.newQueue())
        let sessions = journal.makeWriter()
        sessions.sessionOpened(queue, clientId: "worker", expiryInterval: 60)
        sessions.commit(whenDurable: nil)  // nobody waits for this one...
        let connection = journal.makeWriter()
        connection.taken(message(journal.newMessageId(), "jobs/1"), by: queue, qos: .atLeastOnce, retain: false, subscriptionIds: .none)
        #expect(connection.repliesMustWait, "a taken message makes the publisher's reply wait")
        let durable = Mutex<Bool?>(nil)
        let done = DispatchSemaphore(value: 0)
        connection.commit { ok in
            durable.withLock { $0 = ok }
            done.signal()
        }
        #expect(connection.isEmpty && !connection.repliesMustWait, "a commit empties the writer")
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(durable.withLock { $0 } == true)
        // ...but once the later commit is durable, so is the session's record.
        journal.close()
        let (state, _) = try Storage.inspect(directory)
        #expect(state.queues[queue.id]?.entries.count == 1)
        if case .session(let clientId, _)? = state.queues[queue.id]?.kind {
            #expect(clientId == "worker")
        } else {
            Issue.record("no session record")
        }
    }

    /// A message several queues take is one record naming them all, closed
    /// by the next effect; a removal written after it applies to it.
    @Test func aMessageTakenByManyQueuesIsOneRecord() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try open()
        let queues = try (0..<3).map { _ in try #require(journal.newQueue()) }
        let writer = journal.makeWriter()
        for (index, queue) in queues.enumerated() { writer.sessionOpened(queue, clientId: "c\(index)", expiryInterval: 60) }
        let published = message(journal.newMessageId(), "fan/out")
        for queue in queues { writer.taken(published, by: queue, qos: .atLeastOnce, retain: false, subscriptionIds: .none) }
        writer.removed(published.journalId, from: queues[0])
        writer.commit(whenDurable: nil)
        journal.close()
        let (state, report) = try Storage.inspect(directory)
        #expect(report.records == 3 + 1 + 1, "three sessions, one message record, one removal")
        #expect(state.messages[published.journalId]?.references == 2)
        #expect(state.queues[queues[0].id]?.entries.isEmpty == true)
        #expect(state.queues[queues[2].id]?.entries[published.journalId] != nil)
    }

    /// Contract 4: an acknowledgement committed before the message it
    /// acknowledges (two connections racing) still applies once it arrives.
    @Test func aRemovalCommittedBeforeItsMessageStillApplies() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try open()
        let queue = try #require(journal.newQueue())
        let setup = journal.makeWriter()
        setup.sessionOpened(queue, clientId: "fast", expiryInterval: 60)
        setup.commit(whenDurable: nil)
        let published = message(journal.newMessageId(), "race")
        let subscriber = journal.makeWriter()
        subscriber.removed(published.journalId, from: queue)
        subscriber.commit(whenDurable: nil)
        let publisher = journal.makeWriter()
        publisher.taken(published, by: queue, qos: .atLeastOnce, retain: false, subscriptionIds: .none)
        publisher.commit(whenDurable: nil)
        journal.close()
        let (state, _) = try Storage.inspect(directory)
        #expect(state.queues[queue.id]?.entries.isEmpty == true, "the early removal took it out again")
    }

    /// The in-memory journal keeps nothing and never makes anyone wait.
    @Test func theInMemoryJournalIsANoOp() {
        let journal = InMemoryJournal()
        #expect(!journal.isDurable && journal.newMessageId() == 0 && journal.newQueue() == nil)
        let writer = journal.makeWriter()
        writer.requireDurableReply()
        #expect(writer.isEmpty && !writer.repliesMustWait)
        let called = Mutex(false)
        writer.commit { ok in called.withLock { $0 = ok } }
        #expect(called.withLock { $0 }, "a waiting caller is answered at once")
    }
}
