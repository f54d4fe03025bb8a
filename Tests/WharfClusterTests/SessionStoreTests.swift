import Foundation
import NIOCore
import NIOPosix
import Testing
import WharfCore
import WharfMQTT
import WharfNATS
import WharfTestSupport

@testable import WharfCluster

/// Session records against the shared three-server cluster: claims by CAS,
/// what a claim keeps and drops, and racing connects.
@Suite(.timeLimit(.minutes(2))) struct SessionStoreTests {
    static let now: UInt64 = 1_800_000_000_000_000_000

    static func bucket() async throws -> KeyValueBucket {
        let connection = try NATSConnection(
            options: NATSConnectionOptions(urls: NATSTestCluster.shared.clientURLs), eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
        try await connection.waitUntilConnected()
        var config = ClusterAssets(replicas: 3, lease: .seconds(3)).sessions
        config.bucket = "sessions_\(UUID().uuidString.prefix(8).lowercased())"
        return try await KeyValueBucket.ensure(config, in: JetStream(connection: connection))
    }

    static func subscription(_ filter: String) -> SessionRecord.Subscription {
        .init(SubscribePacket.Subscription(filter: filter, qos: .atLeastOnce), identifier: 0)
    }

    @Test func aSecondNodesClaimAsksTheFirstAndKeepsTheSession() async throws {
        let bucket = try await Self.bucket()
        let a = SessionStore(bucket: bucket, node: "a")
        let b = SessionStore(bucket: bucket, node: "b")
        let first = try await a.claim("d1", cleanStart: false, expiryInterval: 60, will: nil, now: Self.now)
        #expect(first.record.ownership == SessionOwnership(epoch: 1, owner: "a", connected: true))
        #expect(!first.sessionPresent && first.claim.ask.isEmpty)
        // Subscriptions are written by their owner (the connect path does that in part 2).
        var subscribed = first.record
        subscribed.subscriptions = [Self.subscription("cmd/d1/#")]
        let revision = try await bucket.update(ClusterNames.key(for: "d1"), subscribed.encoded(), lastRevision: first.revision)

        let second = try await b.claim("d1", cleanStart: false, expiryInterval: 60, will: nil, now: Self.now)
        #expect(second.sessionPresent)
        #expect(second.claim.ask == ["a"])
        #expect(second.record.ownership == SessionOwnership(epoch: 2, owner: "b", connected: true, unreleased: ["a"]))
        #expect(second.record.subscriptions.map(\.filter) == ["cmd/d1/#"])
        #expect(second.revision > revision)
        // Fenced: `unreleased` cleared, only while the record is still this claim's.
        let fenced = try #require(await b.fenced(second))
        #expect(try await b.read("d1").record?.ownership.unreleased == [])
        #expect(await a.fenced(first) == nil, "a stale claim changes nothing")
        #expect(try await b.read("d1").revision == fenced)
        await bucket.jetStream.connection.close()
    }

    @Test func aCleanStartOrAnExpiredSessionDropsSubscriptionsButNotTheFence() async throws {
        let bucket = try await Self.bucket()
        let a = SessionStore(bucket: bucket, node: "a")
        let b = SessionStore(bucket: bucket, node: "b")
        var claimed = try await a.claim("d2", cleanStart: false, expiryInterval: 10, will: nil, now: Self.now)
        var record = claimed.record
        record.subscriptions = [Self.subscription("x")]
        _ = try await bucket.update(ClusterNames.key(for: "d2"), record.encoded(), lastRevision: claimed.revision)
        let clean = try await b.claim("d2", cleanStart: true, expiryInterval: 10, will: nil, now: Self.now)
        #expect(!clean.sessionPresent && clean.record.subscriptions.isEmpty)
        #expect(clean.claim.ask == ["a"], "a may still deliver the old connection")

        // Offline for longer than its expiry interval: gone for the next connect.
        claimed = try await a.claim("d3", cleanStart: false, expiryInterval: 10, will: nil, now: Self.now)
        record = claimed.record
        record.subscriptions = [Self.subscription("y")]
        let revision = try await bucket.update(ClusterNames.key(for: "d3"), record.encoded(), lastRevision: claimed.revision)
        let offline = try #require(try await a.disconnected(record, revision: revision, at: Self.now))
        #expect(try await a.read("d3").record?.ownership.connected == false)
        #expect(try await a.disconnected(record, revision: revision, at: Self.now) == nil, "a stale disconnect changes nothing")
        let early = try await b.claim("d3", cleanStart: false, expiryInterval: 10, will: nil, now: Self.now + 9_000_000_000)
        #expect(early.sessionPresent && early.claim.ask.isEmpty, "offline, within its expiry: kept, nobody to ask")
        _ = try await a.disconnected(early.record, revision: early.revision, at: Self.now)
        let late = try await a.claim("d3", cleanStart: false, expiryInterval: 10, will: nil, now: Self.now + 11_000_000_000)
        #expect(!late.sessionPresent && late.record.subscriptions.isEmpty)
        #expect(offline > 0)
        await bucket.jetStream.connection.close()
    }

    /// Eight connects of one client on eight nodes at once: every one that
    /// wins has its own epoch, each asks the winner before it, and the
    /// record ends at the highest.
    @Test func racingClaimsEachWinTheirOwnEpoch() async throws {
        let bucket = try await Self.bucket()
        let claims = try await withThrowingTaskGroup(of: SessionStore.Claimed.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await SessionStore(bucket: bucket, node: "n\(index)")
                        .claim("race", cleanStart: false, expiryInterval: 60, will: nil, now: Self.now, tries: 20)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let epochs = claims.map(\.record.ownership.epoch).sorted()
        #expect(epochs == Array(1...8))
        let byEpoch = Dictionary(uniqueKeysWithValues: claims.map { ($0.record.ownership.epoch, $0) })
        for epoch in UInt64(2)...8 {
            let previous = try #require(byEpoch[epoch - 1]).record.ownership.owner
            #expect(byEpoch[epoch]?.claim.ask.contains(previous) == true, "epoch \(epoch) asks \(previous)")
        }
        #expect(try await SessionStore(bucket: bucket, node: "x").read("race").record?.ownership.epoch == 8)
        await bucket.jetStream.connection.close()
    }

    @Test func aRecordOfALaterVersionIsRefusedNotOverwritten() async throws {
        let bucket = try await Self.bucket()
        _ = try await bucket.put(ClusterNames.key(for: "future"), ByteBuffer(string: #"{"version": 9}"#))
        await #expect(throws: SessionStore.Problem.unreadable(.laterVersion(9))) {
            _ = try await SessionStore(bucket: bucket, node: "a").claim(
                "future", cleanStart: true, expiryInterval: 0, will: nil, now: Self.now)
        }
        await bucket.jetStream.connection.close()
    }
}
