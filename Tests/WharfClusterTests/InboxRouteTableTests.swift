import Testing
import WharfCore
import WharfMQTT

@testable import WharfCluster

/// `InboxRouteTable`: session records become routes to their queues, the
/// later revision winning whichever way it arrives.
@Suite struct InboxRouteTableTests {
    static func record(_ subscriptions: [(String, QoS, UInt32)], connected: Bool = true) -> SessionRecord {
        SessionRecord(
            clientId: "device", ownership: SessionOwnership(epoch: 1, owner: "a", connected: connected), expiryInterval: 60,
            subscriptions: subscriptions.map {
                SessionRecord.Subscription(SubscribePacket.Subscription(filter: $0.0, qos: $0.1), identifier: $0.2)
            })
    }

    static func describe(_ changes: [InboxRouteTable.Change]) -> [String] {
        changes.map { change in
            switch change {
            case .add(let inbox, let subscription, let identifier):
                "+\(inbox.clientId) \(subscription.filter) q\(subscription.qos.rawValue) id\(identifier)"
            case .remove(let inbox, let filter): "-\(inbox.clientId) \(filter)"
            case .group(let share, let clientId, let present): "\(present ? "+" : "-")\(clientId) holds \(share)"
            }
        }
    }

    @Test func recordsBecomeRoutesAndTheLaterRevisionWins() {
        var table = InboxRouteTable()
        let first = Self.record([("a/#", .atLeastOnce, 0), ("$share/g/b", .atLeastOnce, 0), ("c", .atMostOnce, 3)])
        #expect(
            Self.describe(table.apply(key: "k", record: first, revision: 5)) == [
                "+device holds $share/g/b", "+device a/# q1 id0", "+device c q0 id3",
            ])
        #expect(table.routeCount == 2, "a shared subscription keeps its group routed; it is not a route to the queue")
        #expect(table.apply(key: "k", record: first, revision: 5).isEmpty, "the same revision again")
        #expect(table.apply(key: "k", record: Self.record([]), revision: 4).isEmpty, "an older one")

        let second = Self.record([("a/#", .exactlyOnce, 0), ("d", .atLeastOnce, 0)], connected: false)
        #expect(
            Self.describe(table.apply(key: "k", record: second, revision: 9)) == [
                "-device holds $share/g/b", "-device c", "+device a/# q2 id0", "+device d q1 id0",
            ])
        #expect(table.entries["k"]?.inbox.isOnline == false)
        #expect(Self.describe(table.apply(key: "k", record: nil, revision: 10)).sorted() == ["-device a/#", "-device d"])
        #expect(table.routeCount == 0 && table.entries.isEmpty)
    }

    @Test func aDeletedRecordNoLongerHoldsItsGroups() {
        var table = InboxRouteTable()
        let member = Self.record([("$share/g/b", .atLeastOnce, 0), ("$share/h/#", .exactlyOnce, 0)], connected: false)
        #expect(
            Self.describe(table.apply(key: "k", record: member, revision: 1)) == ["+device holds $share/g/b", "+device holds $share/h/#"])
        #expect(table.apply(key: "k", record: member, revision: 2).isEmpty, "still held: nothing changes")
        #expect(Self.describe(table.apply(key: "k", record: nil, revision: 3)) == ["-device holds $share/g/b", "-device holds $share/h/#"])
    }

    @Test func groupEntriesPastPubrecAreKnownWhileARecordHoldsThem() {
        var table = InboxRouteTable()
        var member = Self.record([("$share/g/b", .exactlyOnce, 0)])
        member.released = [
            SessionRecord.Released(packetId: 7, sequence: 0, groupSequence: 41),
            SessionRecord.Released(packetId: 8, sequence: 12),
        ]
        _ = table.apply(key: "k", record: member, revision: 1)
        var other = Self.record([])
        other.released = [SessionRecord.Released(packetId: 3, sequence: 0, groupSequence: 41)]
        _ = table.apply(key: "other", record: other, revision: 2)
        #expect(table.holdsReleasedGroupEntry(41))
        #expect(!table.holdsReleasedGroupEntry(12), "a place in a session's own queue is not a group entry")

        member.released = [SessionRecord.Released(packetId: 9, sequence: 0, groupSequence: 44)]
        _ = table.apply(key: "k", record: member, revision: 3)
        #expect(table.holdsReleasedGroupEntry(41), "still in the other record")
        #expect(table.holdsReleasedGroupEntry(44))
        _ = table.apply(key: "other", record: nil, revision: 4)
        #expect(!table.holdsReleasedGroupEntry(41), "PUBCOMP'd or deleted everywhere: given out again")
        member.released = nil
        _ = table.apply(key: "k", record: member, revision: 5)
        #expect(!table.holdsReleasedGroupEntry(44))
    }
}
