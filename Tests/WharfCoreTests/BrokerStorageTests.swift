import Foundation
import NIOCore
import Testing
import WharfMQTT
import WharfStorage

@testable import WharfCore

/// The broker over a real store in a temporary directory: what routing,
/// acknowledgements and policies write is what a restart restores.
@Suite struct BrokerStorageTests {
    let directory = NSTemporaryDirectory() + "wharf-broker-storage-" + UUID().uuidString

    /// A broker on the local log, with what it recovered restored.
    func open(policies: [DeliveryPolicy] = []) throws -> (Broker, LocalLogJournal) {
        let (journal, _) = try LocalLogJournal.open(LocalLogOptions(directory: directory))
        let broker = Broker(policies: DeliveryPolicies(policies), journal: journal)
        _ = journal.recover(into: broker)
        try journal.start()
        return (broker, journal)
    }

    func publish(_ broker: Broker, _ topic: String, _ payload: String, qos: QoS = .atLeastOnce, retain: Bool = false) {
        broker.publish(
            Message(
                topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
                journalId: broker.newJournalId(qos: qos, retain: retain)
            ))
    }

    func queued(_ broker: Broker, _ clientId: String) -> [String] {
        let owner = RecordingTarget()
        var packets: [OutboundPacket] = []
        let session = broker.openSession(clientId: clientId, cleanSession: false, owner: owner, resend: &packets).session
        session.takePackets(for: owner, into: &packets)
        return packets.compactMap { packet in
            if case .publish(let message, _, _, _, _, _) = packet { return String(buffer: message.payload) }
            return nil
        }
    }

    @Test func acknowledgedMessagesStayGoneAndTheRestComeBack() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (broker, storage) = try open()
            let owner = RecordingTarget()
            var packets: [OutboundPacket] = []
            let session = broker.openSession(clientId: "worker", cleanSession: false, owner: owner, resend: &packets).session
            _ = broker.subscribe(session, [SubscribePacket.Subscription(filter: "jobs/#", qos: .atLeastOnce)])
            for index in 1...4 { publish(broker, "jobs/\(index)", "job \(index)") }
            publish(broker, "jobs/status", "ready", qos: .atMostOnce, retain: true)
            session.takePackets(for: owner, into: &packets)
            // The consumer acknowledges the first two, as its connection would.
            let journal = broker.makeJournalWriter()
            for packet in packets.prefix(2) {
                if let id = packet.packetId, let done = session.acknowledge(id, from: owner) {
                    broker.journalAcknowledged(done, session: session, into: journal)
                }
            }
            journal.commit(whenDurable: nil)
            broker.closeSession(session, owner: owner)
            storage.close()
        }
        let (broker, storage) = try open()
        defer { storage.close() }
        #expect(queued(broker, "worker") == ["job 3", "job 4"])
        #expect(broker.retainedCount == 1)
    }

    @Test func aMessageDroppedByMaxLengthDoesNotComeBack() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policy = DeliveryPolicy(pattern: "feed/#", maxLength: 2, overflow: .dropOldest)
        do {
            let (broker, storage) = try open(policies: [policy])
            let owner = RecordingTarget()
            var packets: [OutboundPacket] = []
            let session = broker.openSession(clientId: "reader", cleanSession: false, owner: owner, resend: &packets).session
            _ = broker.subscribe(session, [SubscribePacket.Subscription(filter: "feed/#", qos: .atLeastOnce)])
            broker.closeSession(session, owner: owner)
            for index in 1...3 { publish(broker, "feed/x", "tick \(index)") }
            storage.close()
        }
        // The log itself says the first one is gone (a restore would drop it
        // again anyway, by the same policy; the log must not keep it forever).
        let (state, report) = try Storage.inspect(directory)
        #expect(report.problems.isEmpty)
        #expect(state.queues.values.first?.entries.count == 2)
        #expect(state.messages.count == 2)
        let (broker, storage) = try open(policies: [policy])
        defer { storage.close() }
        #expect(queued(broker, "reader") == ["tick 2", "tick 3"])
    }

    /// Clean start over a stored session: the connection is told to hold
    /// CONNACK for the session's end record, and the log says it ended.
    @Test func cleanStartOverAStoredSessionEndsItInTheLog() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (broker, storage) = try open()
            let owner = RecordingTarget()
            var packets: [OutboundPacket] = []
            let stored = broker.openSession(clientId: "panel", cleanSession: false, owner: owner, resend: &packets)
            #expect(!stored.endedJournaledSession)
            _ = broker.subscribe(stored.session, [SubscribePacket.Subscription(filter: "alerts/#", qos: .atLeastOnce)])
            broker.closeSession(stored.session, owner: owner)
            let fresh = broker.openSession(clientId: "panel", cleanSession: true, owner: RecordingTarget(), resend: &packets)
            #expect(!fresh.sessionPresent)
            #expect(fresh.endedJournaledSession)
            #expect(fresh.connAckWaitsForJournal)
            storage.close()
        }
        let (state, _) = try Storage.inspect(directory)
        #expect(state.queues.isEmpty)
    }
}
