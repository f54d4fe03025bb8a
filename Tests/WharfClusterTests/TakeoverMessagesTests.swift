import Foundation
import NIOCore
import Synchronization
import Testing
import WharfCore
import WharfNATS
import WharfTestSupport

@testable import WharfCluster

/// The takeover's messages between two real nodes on the shared NATS
/// cluster: release requests answered after the older connection closed,
/// a fence that waits out a live node that does not answer, and one that
/// a later connect releases.
@Suite(.timeLimit(.minutes(2))) struct TakeoverMessagesTests {
    typealias Nodes = ClusterNodeTests

    final class Closed: Sendable {
        let values = Mutex<[String]>([])
        func add(_ value: String) { values.withLock { $0.append(value) } }
        var all: [String] { values.withLock { $0 } }
    }

    @Test func aReleaseClosesTheOlderConnectionBeforeTheNewOwnerDelivers() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let b = try await Nodes.node(Nodes.unique("b"))
        let closed = Closed()
        let session = Nodes.unique("s")
        let first = SessionClaim(current: nil, node: a.cluster.options.nodeName)
        #expect(await a.cluster.fence(session: session, claim: first), "nobody to ask")
        // As a claim on a would leave it: the session delivered there at epoch 1.
        a.cluster.state.withLock { state in
            state.claimed[session] = .init(
                epoch: 1, record: SessionRecord(clientId: session, ownership: first.record, expiryInterval: 60), revision: 0,
                replayed: ReplayedEntryGuard(nil))
        }
        a.cluster.sessionDelivering(clientId: session, epoch: 1, session: Session(clientId: session, maxInflight: 10, maxQueued: 10)) {
            why, done in
            closed.add("\(session)@1 \(why)")
            done()
        }
        let second = SessionClaim(current: first.record, node: b.cluster.options.nodeName)
        #expect(second.ask == [a.cluster.options.nodeName])
        #expect(await b.cluster.fence(session: session, claim: second))
        #expect(closed.all == ["\(session)@1 takenOver"])
        #expect(a.cluster.state.withLock { $0.claimed[session] } == nil, "a's copy is dropped")
        #expect(a.cluster.state.withLock { $0.takeover.delivering[session] } == nil)
        #expect(b.cluster.state.withLock { $0.takeover.delivering[session] } == 2)
        await a.cluster.stop()
        await b.cluster.stop()
    }

    /// A live node that never answers (a lease, no node behind it) holds a
    /// fence until its lease lapses; a later connect elsewhere releases the
    /// connect that was waiting for it, and itself waits for that node too.
    @Test func aLaterConnectReleasesAWaitingOneAndStillWaitsForTheSilentNode() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let b = try await Nodes.node(Nodes.unique("b"))
        let silent = Nodes.unique("z")
        let bucket = try #require(a.cluster.state.withLock { $0.buckets?.nodes })
        let lease = NodeAnnouncement(bootId: "z", metricsURL: nil, startedAtSeconds: Date().timeIntervalSince1970)
        let renewing = Task {
            while !Task.isCancelled {
                _ = try? await bucket.put(silent, ByteBuffer(bytes: try JSONEncoder().encode(lease)))
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        try await Nodes.until("both see the silent node") {
            a.cluster.liveNodes.contains { $0.name == silent } && b.cluster.liveNodes.contains { $0.name == silent }
        }
        let session = Nodes.unique("s")
        let held = SessionOwnership(epoch: 1, owner: silent, connected: true)
        let onB = SessionClaim(current: held, node: b.cluster.options.nodeName)
        let bFence = Task { await b.cluster.fence(session: session, claim: onB) }
        try await Nodes.until("b waits") { b.cluster.state.withLock { !$0.takeover.waitingFor(session, epoch: 2).isEmpty } }
        let onA = SessionClaim(current: onB.record, node: a.cluster.options.nodeName)
        #expect(onA.ask == [b.cluster.options.nodeName, silent].sorted())
        let aFence = Task { await a.cluster.fence(session: session, claim: onA) }
        #expect(await bFence.value == false, "released by the later connect")
        try await Nodes.until("a heard from b") { a.cluster.state.withLock { $0.takeover.waitingFor(session, epoch: 3) } == [silent] }
        // The silent node's lease stops being renewed: a goes on once it lapses.
        renewing.cancel()
        #expect(await aFence.value == true)
        await a.cluster.stop()
        await b.cluster.stop()
    }

    /// A node that stopped cleanly withdrew its lease: it delivers nothing,
    /// so a fence does not wait a lease for it (here the deadline is
    /// shorter than the lease, so waiting would fail the fence).
    @Test func aWithdrawnNodeCountsAsReleased() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let b = try await Nodes.node(Nodes.unique("b"))
        let bName = b.cluster.options.nodeName
        try await Nodes.until("a sees b") { a.cluster.liveNodes.contains { $0.name == bName } }
        await b.cluster.stop()
        try await Nodes.until("a sees b withdrawn") { a.cluster.state.withLock { $0.withdrawn.contains(bName) } }
        let claim = SessionClaim(current: SessionOwnership(epoch: 4, owner: bName, connected: true), node: a.cluster.options.nodeName)
        #expect(await a.cluster.fence(session: Nodes.unique("s"), claim: claim, deadline: .seconds(2)))
        await a.cluster.stop()
    }
}
