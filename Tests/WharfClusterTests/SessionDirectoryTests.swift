import Foundation
import Synchronization
import Testing
import WharfCore
import WharfMQTT
import WharfNATS
import WharfTestSupport

@testable import WharfCluster

/// `ClusterNode` as the broker's `ClusterSessionDirectory`, between two real
/// nodes on the shared NATS cluster: what a CONNECT gets, what the record
/// keeps, who is asked to let go, and the self-fence.
@Suite(.timeLimit(.minutes(2))) struct SessionDirectoryTests {
    typealias Nodes = ClusterNodeTests

    final class Releases: Sendable {
        let values = Mutex<[ClusterReleaseReason]>([])
        func add(_ value: ClusterReleaseReason) { values.withLock { $0.append(value) } }
        var all: [ClusterReleaseReason] { values.withLock { $0 } }
    }

    static func connect(_ clientId: String, clean: Bool = false, expiry: UInt32 = 300) -> ClusterSessionConnect {
        ClusterSessionConnect(clientId: clientId, cleanStart: clean, expiryInterval: expiry, will: nil, willDelay: 0)
    }

    static func grant(_ claim: ClusterSessionClaim, sourceLocation: SourceLocation = #_sourceLocation) -> ClusterSessionGrant? {
        guard case .claimed(let grant) = claim else {
            Issue.record("not claimed: \(claim)", sourceLocation: sourceLocation)
            return nil
        }
        return grant
    }

    /// The claimed connection open on `node`: what releases it, in order.
    static func delivering(_ node: Nodes.Node, _ clientId: String, epoch: UInt64) -> Releases {
        let releases = Releases()
        node.cluster.sessionDelivering(
            clientId: clientId, epoch: epoch, session: Session(clientId: clientId, maxInflight: 10, maxQueued: 10)
        ) { why, done in
            releases.add(why)
            done()
        }
        return releases
    }

    /// Two fresh nodes for `body`, stopped after it.
    static func withTwoNodes(_ body: (Nodes.Node, Nodes.Node) async throws -> Void) async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let b = try await Nodes.node(Nodes.unique("b"))
        let outcome: Result<Void, any Error>
        do {
            try await body(a, b)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await a.cluster.stop()
        await b.cluster.stop()
        try outcome.get()
    }

    static func record(_ node: Nodes.Node, _ clientId: String) async throws -> SessionRecord? {
        let store = try #require(node.cluster.state.withLock { $0.buckets?.sessions })
        return try await store.read(clientId).record
    }

    @Test func theRecordFollowsTheSessionToAnotherNode() async throws {
        try await Self.withTwoNodes { a, b in
            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            #expect(onA.epoch == 1 && !onA.sessionPresent)
            let subscription = SubscribePacket.Subscription(filter: "orders/#", qos: .atLeastOnce, noLocal: true)
            a.cluster.sessionSubscriptionsChanged(
                clientId: client, epoch: onA.epoch, subscribed: [ClusterSessionSubscription(subscription, identifier: 9)],
                unsubscribed: [], journal: nil)
            // Its reader handed over the entry at 42, and the client took it
            // to PUBREC under id 7, the last id the session gave out but 2.
            let stored: Int64 = 1_765_000_000_123_456_789
            #expect(a.cluster.state.withLock { $0.claimed[client]?.replayed.judge(sequence: 42, time: stored, id: 7) } == .handOver)
            a.cluster.sessionReleased(
                clientId: client, epoch: onA.epoch, ClusterReleasedDelivery(packetId: 7, sequence: 42), lastPacketId: 9, journal: nil)
            a.cluster.sessionEnded(clientId: client, epoch: onA.epoch, kept: true, willHeld: false)
            try await Nodes.until("a's record written") { a.cluster.state.withLock { $0.claimed[client] == nil } }
            let offline = try #require(try await Self.record(a, client))
            #expect(!offline.ownership.connected && offline.disconnectedAt != nil)
            #expect(offline.subscriptions.map(\.filter) == ["orders/#"])
            #expect(offline.lastPacketId == 9)
            #expect(offline.handedOver?.sequences == [42])

            let onB = try #require(Self.grant(await b.cluster.claimSession(Self.connect(client))))
            #expect(onB.epoch == 2 && onB.sessionPresent && !onB.lastDeliveredHere)
            #expect(onB.subscriptions == [ClusterSessionSubscription(subscription, identifier: 9)])
            #expect(onB.released == [ClusterReleasedDelivery(packetId: 7, sequence: 42)] && onB.lastPacketId == 9)
            // b's reader skips a copy of the entry a handed over.
            let copy = b.cluster.state.withLock { $0.claimed[client]?.replayed.judge(sequence: 58, time: stored, id: 7) }
            #expect(copy == .copy)
            let now = try #require(try await Self.record(b, client))
            #expect(now.ownership == SessionOwnership(epoch: 2, owner: b.cluster.options.nodeName, connected: true))
            #expect(now.ownerBoot == b.cluster.bootId)
        }
    }

    /// A record write whose answer was lost (it timed out in an election,
    /// but landed) left the node's revision behind, and every later write
    /// failed: a QoS 2 delivery past PUBREC went unrecorded. The node now
    /// reads the record, finds it still its epoch's, and writes again.
    @Test func aWriteThatLandedUnseenDoesNotStopLaterOnes() async throws {
        try await Self.withTwoNodes { a, _ in
            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            let store = try #require(a.cluster.state.withLock { $0.buckets?.sessions })
            let (stored, revision) = try await store.read(client)
            let record = try #require(stored)
            #expect(await store.update(record, after: revision) != nil, "the write the node never heard back from")
            a.cluster.sessionReleased(
                clientId: client, epoch: onA.epoch, ClusterReleasedDelivery(packetId: 7, sequence: 42), lastPacketId: 7, journal: nil)
            var released: [SessionRecord.Released]?
            let deadline = ContinuousClock.now + .seconds(10)
            while released == nil, ContinuousClock.now < deadline {
                released = try await Self.record(a, client)?.released
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(released == [SessionRecord.Released(packetId: 7, sequence: 42)])
        }
    }

    /// A PUBREL waits for the record to hold its delivery, and is not sent
    /// when the record moved on without it (another node took the session
    /// while this one could not reach NATS): the batch's commit fails, and
    /// the connection closes instead.
    @Test func aPubrelIsNotSentWhenTheRecordDidNotTakeItsDelivery() async throws {
        try await Self.withTwoNodes { a, _ in
            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            let committed = Mutex<[Bool]>([])
            func release(_ packetId: UInt16, sequence: UInt64) {
                let journal = ClusterJournalWriter(InMemoryJournal().makeWriter())
                a.cluster.sessionReleased(
                    clientId: client, epoch: onA.epoch, ClusterReleasedDelivery(packetId: packetId, sequence: sequence),
                    lastPacketId: packetId, journal: journal)
                journal.commit { ok in committed.withLock { $0.append(ok) } }
            }
            release(7, sequence: 42)
            try await Nodes.until("the first commit") { committed.withLock { $0.count } == 1 }
            #expect(committed.withLock { $0 } == [true])
            #expect(try await Self.record(a, client)?.released == [SessionRecord.Released(packetId: 7, sequence: 42)])

            // Another node's claim, which a never heard of.
            let store = try #require(a.cluster.state.withLock { $0.buckets?.sessions })
            let (stored, revision) = try await store.read(client)
            var taken = try #require(stored)
            taken.ownership = SessionOwnership(epoch: onA.epoch + 1, owner: "elsewhere", connected: true)
            #expect(await store.update(taken, after: revision) != nil)
            release(8, sequence: 43)
            try await Nodes.until("the second commit") { committed.withLock { $0.count } == 2 }
            #expect(committed.withLock { $0 } == [true, false], "no PUBREL without the record")
            #expect(try await Self.record(a, client)?.released?.contains { $0.packetId == 8 } != true)
        }
    }

    /// The chaos run's last QoS 2 duplicate: a node stored an exchange's
    /// copies but lost the session before marking it routed, and the next
    /// node routed it again, which JetStream took as new.
    @Test func aClaimMarksWhatTheLastNodeRoutedButCouldNotMark() async throws {
        try await Self.withTwoNodes { a, b in
            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            _ = Self.delivering(a, client, epoch: onA.epoch)
            let recorded = Mutex<[Bool]>([])
            let exchanges = [1, 2].map { (packetId: UInt16($0), exchange: InboundExchange(clientId: client, epoch: onA.epoch, serial: $0)) }
            a.cluster.sessionExchangesBegun(clientId: client, epoch: onA.epoch, exchanges) { ok in recorded.withLock { $0.append(ok) } }
            try await Nodes.until("both exchanges recorded") { recorded.withLock { $0 } == [true] }

            // Exchange 1 is routed; its copy (a queue append here) is still
            // on its way when b claims. Exchange 2 never got routed.
            let journal = ClusterJournalWriter(InMemoryJournal().makeWriter())
            let append = journal.batchGate()
            append.add()
            a.cluster.sessionExchangeRouted(
                clientId: client, epoch: onA.epoch, packetId: 1, exchange: InboundExchange(clientId: client, epoch: onA.epoch, serial: 1),
                journal: journal)
            let claim = Task { await b.cluster.claimSession(Self.connect(client)) }
            try await Nodes.until("a released the session") { a.cluster.state.withLock { $0.claimed[client] == nil } }
            try await Task.sleep(for: .milliseconds(300))
            // Stored, but a's mark cannot land: the session is b's.
            append.finished(ok: true)

            let onB = try #require(Self.grant(await claim.value))
            #expect(onB.received.map(\.packetId).sorted() == [1, 2])
            #expect(onB.received.first { $0.packetId == 1 }?.routed == true, "a stored every copy: not routed again")
            #expect(onB.received.first { $0.packetId == 2 }?.routed == false, "never routed: routed when sent again")
            // And so does the record, for whichever node comes next.
            let deadline = ContinuousClock.now + .seconds(10)
            var routed: [UInt16] = []
            while ContinuousClock.now < deadline {
                routed = (try await Self.record(b, client)?.received ?? []).filter(\.routed).map(\.packetId)
                if !routed.isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(routed == [1])
        }
    }

    @Test func aConnectElsewhereReleasesTheOpenConnectionFirst() async throws {
        try await Self.withTwoNodes { a, b in
            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            let releases = Self.delivering(a, client, epoch: onA.epoch)
            let onB = try #require(Self.grant(await b.cluster.claimSession(Self.connect(client))))
            #expect(releases.all == [.takenOver], "closed before b's claim returned")
            #expect(onB.sessionPresent)
            // The old connection's end changes nothing: the record is b's.
            a.cluster.sessionEnded(clientId: client, epoch: onA.epoch, kept: true, willHeld: false)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await Self.record(b, client)?.ownership.owner == b.cluster.options.nodeName)
            #expect(try await Self.record(b, client)?.ownership.connected == true)
        }
    }

    @Test func aCleanSessionClaimsOnlyWhenTheClientHasARecord() async throws {
        try await Self.withTwoNodes { a, b in
            let fresh = Nodes.unique("fresh")
            guard case .notRecorded = await a.cluster.claimSession(Self.connect(fresh, clean: true, expiry: 0)) else {
                Issue.record("a clean session with no record was claimed")
                return
            }
            #expect(try await Self.record(a, fresh) == nil, "and writes none")

            let client = Nodes.unique("c")
            let onA = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
            a.cluster.sessionEnded(clientId: client, epoch: onA.epoch, kept: true, willHeld: false)
            // The clean probe is a direct read, which a replica that has not
            // applied a's claim yet answers with "no record".
            let store = try #require(b.cluster.state.withLock { $0.buckets?.sessions })
            let deadline = ContinuousClock.now + .seconds(10)
            while try await store.read(client, fromLeader: false).record == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let clean = try #require(Self.grant(await b.cluster.claimSession(Self.connect(client, clean: true, expiry: 0))))
            #expect(!clean.sessionPresent)
            b.cluster.sessionEnded(clientId: client, epoch: clean.epoch, kept: false, willHeld: false)
            try await Nodes.until("the record is deleted") { b.cluster.state.withLock { $0.claimed[client] == nil } }
            #expect(try await Self.record(b, client) == nil)
        }
    }

    @Test func aNodeThatCannotRenewItsLeaseReleasesItsSessionsAndClaimsNone() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let client = Nodes.unique("c")
        let grant = try #require(Self.grant(await a.cluster.claimSession(Self.connect(client))))
        let releases = Self.delivering(a, client, epoch: grant.epoch)
        a.cluster.selfFence()
        #expect(releases.all.isEmpty, "the lease is fresh")
        // Renewals stop (the timers cancelled, the last one landed), as if
        // the last one that succeeded was sent 0.6 lease ago.
        for timer in a.cluster.state.withLock({ $0.timers }) { timer.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        a.cluster.state.withLock { $0.leaseRenewedAt = ContinuousClock.now - a.cluster.selfFenceAfter }
        a.cluster.selfFence()
        #expect(releases.all == [.leaseLost])
        guard case .unavailable = await a.cluster.claimSession(Self.connect(Nodes.unique("d"))) else {
            Issue.record("a node past its self-fence claimed a session")
            return
        }
        await a.cluster.stop()
    }
}
