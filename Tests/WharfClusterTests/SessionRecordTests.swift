import Foundation
import NIOCore
import Testing
import WharfCore
import WharfMQTT

@testable import WharfCluster

/// The session record as another node (or an operator's NATS tool) reads it.
@Suite struct SessionRecordTests {
    static let clock = WallClock(now: 1_000_000_000, wallNow: 1_800_000_000_000_000_000)

    @Test func aRecordWithSubscriptionsAndAWillComesBackWhole() throws {
        let will = Message(topic: "devices/d1/status", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
        let record = SessionRecord(
            clientId: "d1", ownership: SessionOwnership(epoch: 3, owner: "node-2", connected: true, unreleased: ["node-1"]),
            expiryInterval: 3_600,
            subscriptions: [
                .init(SubscribePacket.Subscription(filter: "cmd/d1/#", qos: .exactlyOnce, noLocal: true, retainHandling: 2), identifier: 7),
                .init(SubscribePacket.Subscription(filter: "$share/g/jobs", qos: .atLeastOnce), identifier: 0),
            ],
            will: SessionRecord.Will(will, delaySeconds: 30, clock: Self.clock))
        let back = try SessionRecord.decode(record.encoded()).get()
        #expect(back == record)
        #expect(back.subscriptions.compactMap(\.packet).map(\.filter) == ["cmd/d1/#", "$share/g/jobs"])
        #expect(back.subscriptions[0].packet?.qos == .exactlyOnce && back.subscriptions[0].packet?.retainHandling == 2)
        let message = try #require(back.will?.message(clock: Self.clock))
        #expect(message.topic == "devices/d1/status" && message.retain && message.qos == .atLeastOnce)
        #expect(String(buffer: message.payload) == "offline")
    }

    /// Readable by any JSON tool, with the fields docs/cluster.md names.
    @Test func theJSONSaysWhatItHolds() throws {
        let record = SessionRecord(
            clientId: "d1", ownership: SessionOwnership(epoch: 1, owner: "node-1", connected: false), expiryInterval: 60,
            disconnectedAt: 1_800_000_000_000_000_000)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(record.encoded().readableBytesView)) as? [String: Any])
        #expect(json["version"] as? Int == 1)
        #expect(json["clientId"] as? String == "d1")
        #expect((json["ownership"] as? [String: Any])?["owner"] as? String == "node-1")
        #expect(json["expiryInterval"] as? Int == 60)
    }

    /// QoS 2 deliveries past PUBREC travel with the record; a record from
    /// before they existed reads as having none.
    @Test func releasedDeliveriesComeBackAndOlderRecordsHaveNone() throws {
        var record = SessionRecord(
            clientId: "d1", ownership: SessionOwnership(epoch: 2, owner: "node-1", connected: true), expiryInterval: 60)
        let encodedWithout = record.encoded()
        #expect(!String(buffer: encodedWithout).contains("\"released\""), "nothing written when there are none")
        #expect(try SessionRecord.decode(encodedWithout).get().released == nil)
        record.released = [.init(packetId: 7, sequence: 1_234), .init(packetId: 9, sequence: 1_240)]
        #expect(try SessionRecord.decode(record.encoded()).get().released == record.released)
    }

    /// How far the last connection sent its queue travels with the record;
    /// a record from before it existed says nothing was.
    @Test func sentThroughComesBackAndOlderRecordsHaveNone() throws {
        var record = SessionRecord(
            clientId: "d2", ownership: SessionOwnership(epoch: 5, owner: "node-1", connected: false), expiryInterval: 60)
        #expect(!String(buffer: record.encoded()).contains("\"sentThrough\""))
        #expect(try SessionRecord.decode(record.encoded()).get().sentThrough == nil)
        record.sentThrough = 4_321
        #expect(try SessionRecord.decode(record.encoded()).get().sentThrough == 4_321)
        #expect(try SessionRecord.decode(record.encoded()).get().completed == nil)
        record.completed = [17, 19]
        #expect(try SessionRecord.decode(record.encoded()).get().completed == [17, 19])
    }

    /// Inbound QoS 2 exchanges travel with the record too.
    @Test func receivedExchangesComeBackAndOlderRecordsHaveNone() throws {
        var record = SessionRecord(
            clientId: "p1", ownership: SessionOwnership(epoch: 4, owner: "node-1", connected: true), expiryInterval: 60)
        #expect(!String(buffer: record.encoded()).contains("\"received\""))
        #expect(try SessionRecord.decode(record.encoded()).get().received == nil)
        record.received = [
            .init(ClusterReceivedExchange(packetId: 3, epoch: 4, serial: 1, routed: true)),
            .init(ClusterReceivedExchange(packetId: 5, epoch: 2, serial: 9, routed: false)),
        ]
        let back = try SessionRecord.decode(record.encoded()).get()
        #expect(back.received == record.received)
        #expect(back.received?.map(\.exchange.routed) == [true, false])
    }

    @Test func aLaterVersionOrNotARecordIsRefusedWithAReason() {
        let later = ByteBuffer(string: #"{"version": 2, "clientId": "x"}"#)
        #expect(SessionRecord.decode(later) == .failure(.laterVersion(2)))
        #expect("\(SessionRecord.DecodingProblem.laterVersion(2))".contains("upgrade the node"))
        guard case .failure(.notARecord) = SessionRecord.decode(ByteBuffer(string: "{}")) else {
            Issue.record("an empty object is not a record")
            return
        }
        // A subscription no MQTT client could have made is refused, not guessed.
        var record = SessionRecord(
            clientId: "x", ownership: SessionOwnership(epoch: 1, owner: "n", connected: true), expiryInterval: 0,
            subscriptions: [.init(SubscribePacket.Subscription(filter: "a", qos: .atMostOnce), identifier: 0)])
        record.subscriptions[0].qos = 3
        #expect(record.subscriptions[0].packet == nil)
    }
}
