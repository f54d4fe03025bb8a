import Foundation
import Testing
import WharfCore
import WharfMQTT
import WharfNATS

@testable import WharfCluster

/// Persistent sessions whose node is gone (ClusterNode+orphans), between
/// real nodes on the shared NATS cluster: another node adopts the record,
/// expires the session when its time is up, and reports its backlog
/// meanwhile; a client that comes back finds its session.
///
/// One test at a time: each test's adopting node would adopt the other's
/// session as readily as its own (a failure seen in parallel runs).
@Suite(.serialized, .timeLimit(.minutes(2))) struct OrphanedSessionTests {
    typealias Nodes = ClusterNodeTests
    typealias Directory = SessionDirectoryTests

    /// What `node` knows that decides an adoption from `owner`.
    static func adoptionView(_ node: Nodes.Node, of owner: String) -> String {
        node.cluster.state.withLock { state in
            let runs = state.recordsByOwner.keysByRun.filter { $0.key.owner == owner }.map { "\($0.key.boot ?? "-"): \($0.value.count)" }
            return
                "(b: withdrawn \(state.withdrawn.contains(owner)), lease \(state.nodes[owner].map { "seen \(ContinuousClock.now - $0.seenAt) ago" } ?? "none"), "
                + "records by run \(runs), adopting \(state.adopting.count), sessions loaded \(state.sessionsLoaded), "
                + "leases loaded \(state.readiness.leasesLoaded), self-fenced \(node.cluster.isSelfFenced(state)))"
        }
    }

    static func offlineCopy(_ node: Nodes.Node, _ clientId: String) -> Session? {
        node.broker.offlineClusterSessions.first { $0.clientId == clientId }
    }

    /// Polls `read` until `done` holds of what it returns (or 20 s pass).
    /// `why`: what the adopting node saw, for the failure message.
    static func eventually<T: Sendable>(
        _ what: String, _ read: () async throws -> T, why: () -> String = { "" }, _ done: (T) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(20)
        var last = try await read()
        while !done(last) {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what): last \(last) \(why())", sourceLocation: sourceLocation)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(100))
            last = try await read()
        }
        return last
    }

    @Test func anOfflineSessionOfAStoppedNodeIsAdoptedAndExpiresOnTime() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let b = try await Nodes.node(Nodes.unique("b"), adopts: true)
        defer { Task { await b.cluster.stop() } }
        let client = Nodes.unique("c")
        let onA = try #require(Directory.grant(await a.cluster.claimSession(Directory.connect(client, expiry: 6))))
        a.cluster.sessionEnded(clientId: client, epoch: onA.epoch, kept: true, willHeld: false)
        _ = try await Self.eventually("the record offline", { try await Directory.record(b, client) }) {
            $0?.ownership.connected == false
        }
        let wentOffline = ContinuousClock.now
        await a.cluster.stop()

        let adopted = try await Self.eventually(
            "b adopts it", { try await Directory.record(b, client) }, why: { Self.adoptionView(b, of: a.cluster.options.nodeName) }
        ) { $0?.ownership.owner == b.cluster.options.nodeName }
        #expect(adopted?.ownership.connected == false)
        #expect(adopted?.ownerBoot == b.cluster.bootId)
        #expect(Self.offlineCopy(b, client) != nil, "b holds it offline, and so reports its backlog")

        // Expired 6 s after its disconnect, not 6 s after the adoption (the
        // server's timer runs the broker's timers; here the test does).
        _ = try await Self.eventually(
            "the record gone",
            {
                b.broker.runTimers()
                return try await Directory.record(b, client)
            }
        ) { $0 == nil }
        #expect(ContinuousClock.now - wentOffline < .seconds(12))
        #expect(Self.offlineCopy(b, client) == nil)
    }

    @Test func aConnectedRecordOfADeadRunIsAdoptedWithItsQueueMaybeSent() async throws {
        let b = try await Nodes.node(Nodes.unique("b"), adopts: true)
        defer { Task { await b.cluster.stop() } }
        let client = Nodes.unique("c")
        // The record a node left as it died with the client connected, and
        // two messages queued for it, which that connection may have sent.
        let store = try #require(b.cluster.state.withLock { $0.buckets?.sessions })
        var record = SessionRecord(
            clientId: client, ownership: SessionOwnership(epoch: 3, owner: Nodes.unique("dead"), connected: true),
            expiryInterval: 600,
            subscriptions: [SessionRecord.Subscription(SubscribePacket.Subscription(filter: "jobs/#", qos: .atLeastOnce), identifier: 0)])
        record.ownerBoot = "a-run-long-gone"
        // Right after a fresh cluster's first node is ready, the bucket's
        // leader may not answer yet (the node's own writes retry; this one
        // is the test's).
        let deadline = ContinuousClock.now + .seconds(20)
        var created = false
        while !created {
            do {
                _ = try await store.bucket.create(ClusterNames.key(for: client), record.encoded())
                created = true
            } catch {
                guard case KeyValueError.jetStream(.noResponders) = error, ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let delivery = InboxDelivery(qos: .atLeastOnce, retain: false)
        #expect(
            await SessionInboxTests.append(
                b,
                [
                    (SessionInboxTests.message("one", topic: "jobs/1"), delivery),
                    (SessionInboxTests.message("two", topic: "jobs/2"), delivery),
                ],
                to: client))

        // The dead node's lease was never seen here: it counts as gone
        // after two leases of this node's run.
        let adopted = try #require(
            try await Self.eventually("b adopts it", { try await Directory.record(b, client) }) {
                $0?.ownership.owner == b.cluster.options.nodeName
            })
        #expect(adopted.ownership.connected == false)
        #expect(adopted.ownership.epoch == 3, "no connect won it")
        #expect(adopted.disconnectedAt != nil)
        let last = try #require(adopted.sentThrough)
        let copy = try #require(Self.offlineCopy(b, client))
        _ = try await Self.eventually("its backlog reported", { copy.statistics.queue.depth }) { $0 == 2 }

        // The client comes back here: its session, its subscriptions, and
        // both messages counted as maybe sent (DUP).
        let grant = try #require(Directory.grant(await b.cluster.claimSession(Directory.connect(client, expiry: 600))))
        #expect(grant.sessionPresent)
        #expect(!grant.lastDeliveredHere, "the adopted copy was never delivered here")
        #expect(grant.subscriptions.map(\.request.filter) == ["jobs/#"])
        #expect(grant.resendThrough == last)
    }

    /// A node keeps a session offline; its record becomes another node's
    /// (an adoption, a claim) without a release request reaching this one:
    /// the copy here goes as the sessions watch brings the record, or it
    /// would hold what it had (its group deliveries) for good.
    @Test func anOfflineCopyGoesWhenItsRecordBecomesAnotherNodes() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        defer { Task { await a.cluster.stop() } }
        let client = Nodes.unique("c")
        let store = try #require(a.cluster.state.withLock { $0.buckets?.sessions })
        let record = SessionRecord(
            clientId: client, ownership: SessionOwnership(epoch: 1, owner: a.cluster.options.nodeName, connected: false),
            expiryInterval: 600, subscriptions: [])
        var revision: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(20)
        while revision == 0 {
            do {
                revision = try await store.bucket.create(ClusterNames.key(for: client), record.encoded())
            } catch {
                guard case KeyValueError.jetStream(.noResponders) = error, ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        a.broker.adoptClusterSession(clientId: client, expiryInterval: 600, expiresInNanos: nil)
        #expect(Self.offlineCopy(a, client) != nil)

        // The record rewritten as a's own (a write of its own): the copy stays.
        var again = record
        again.expiryInterval = 700
        revision = try #require(await store.update(again, after: revision))
        _ = try await Self.eventually("a's watch at the rewrite", { a.cluster.state.withLock { $0.sessionsWatchRevision } }) {
            $0 >= revision
        }
        #expect(Self.offlineCopy(a, client) != nil, "a record still a's keeps its copy")

        var elsewhere = again
        elsewhere.ownership.owner = Nodes.unique("other")
        _ = try #require(await store.update(elsewhere, after: revision))
        _ = try await Self.eventually("the copy on a gone", { Self.offlineCopy(a, client) == nil }) { $0 }
    }
}
