import Testing
import WharfMetrics

@testable import WharfTop

/// The Groups screen in cluster mode: a group served from several nodes of
/// one cluster is one line whose figures add up to the group's.
@Suite struct ClusterGroupRowsTests {
    static func group(depth: Int, inflight: Int, delivered: Int, lagSeconds: Double, members: [(String, Int)]) -> GroupSnapshot {
        GroupSnapshot(
            name: "billing", filter: "jobs/#", consumers: members.count, depth: depth, inflight: inflight, enqueuedTotal: delivered,
            deliveredTotal: delivered, acknowledgedTotal: delivered, redeliveredTotal: 0, lagMessages: depth + inflight,
            lagSeconds: lagSeconds, oldestMessageAgeSeconds: nil,
            members: members.map { .init(clientId: $0.0, online: true, inflight: $0.1, deliveredTotal: delivered) })
    }

    /// `name`'s node, listing `live` as its cluster's live nodes (nil: not in a cluster),
    /// whose group delivered `delivered` more in the last second.
    static func node(_ name: String, live: [String]?, _ group: GroupSnapshot, delivered: Int) -> NodeHistory {
        var before = TestSnapshots.snapshot(at: 1999)
        var earlier = group
        earlier.deliveredTotal -= delivered
        before.groups = [earlier]
        var after = TestSnapshots.snapshot(at: 2000)
        after.groups = [group]
        if let live {
            var cluster = ClusterNodesTests.cluster(name)
            cluster.liveNodes = live.map { .init(name: $0, metricsURL: nil, startedAtSeconds: 1000) }
            before.cluster = cluster
            after.cluster = cluster
        }
        return TestSnapshots.node(before, after, url: "http://\(name):18883")
    }

    @Test func aClustersGroupIsOneLineWithItsMembersUnderIt() throws {
        // node-1 reports the queue's backlog (40 waiting) and its member's 2;
        // node-2 only what its members hold.
        let one = Self.node(
            "node-1", live: ["node-1", "node-2"], Self.group(depth: 40, inflight: 2, delivered: 100, lagSeconds: 1.5, members: [("m1", 2)]),
            delivered: 30)
        let two = Self.node(
            "node-2", live: ["node-1", "node-2"],
            Self.group(depth: 0, inflight: 5, delivered: 80, lagSeconds: 0.5, members: [("m2", 3), ("m3", 2)]), delivered: 20)
        let rows = RowBuilder.groups([one, two])
        #expect(rows.map { $0.member ?? "group" } == ["group", "m1", "m2", "m3"])
        let line = rows[0]
        #expect(line.node == "2 nodes")
        #expect(line.depth == 40 && line.inflight == 7 && line.consumers == 3)
        #expect(line.lagMessages == 47 && line.lagSeconds == 1.5)
        #expect(line.deliveryRate == 50)
        #expect(rows[1...].map(\.node) == ["node-1:18883", "node-2:18883", "node-2:18883"])
    }

    @Test func nodesOfNoClusterOrAnotherKeepTheirOwnLines() {
        let group = Self.group(depth: 1, inflight: 0, delivered: 1, lagSeconds: 0, members: [("m", 0)])
        let nodes = [
            Self.node("node-1", live: ["node-1", "node-2"], group, delivered: 0),
            Self.node("node-2", live: ["node-2", "node-1"], group, delivered: 0),
            Self.node("other-1", live: ["other-1"], group, delivered: 0),
            Self.node("single", live: nil, group, delivered: 0),
        ]
        #expect(RowBuilder.clusters(nodes) == [0, 0, 2, nil])
        let lines = RowBuilder.groups(nodes).filter { $0.member == nil }
        #expect(lines.map(\.node) == ["2 nodes", "other-1:18883", "single:18883"])
        #expect(lines.map(\.depth) == [2, 1, 1])
    }
}
