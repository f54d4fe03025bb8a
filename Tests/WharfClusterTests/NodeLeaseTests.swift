import Testing

@testable import WharfCluster

/// `NodeLease.age`: a lease lapses when newer leases keep coming and it is
/// not among them, not merely because this node heard nothing for a while.
@Suite struct NodeLeaseTests {
    let announcement = NodeAnnouncement(bootId: "b1", metricsURL: nil, startedAtSeconds: 0)

    @Test func aLeaseAgesWhileTheWatchBringsNewerOnes() {
        let now = ContinuousClock.now
        let lease = NodeLease(announcement: announcement, seenAt: now - .seconds(12), storedAt: 1_000)
        // This node's own renewals (and the others') came through, stored 12 s later.
        #expect(lease.age(now: now, reach: 1_012) == .seconds(12))
    }

    @Test func aStalledWatchMakesNoLeaseOlderThanWhatItBrought() {
        let now = ContinuousClock.now
        let lease = NodeLease(announcement: announcement, seenAt: now - .seconds(30), storedAt: 1_000)
        // Nothing newer than 1.5 s after this lease came through: 30 s of
        // silence say nothing about the other node.
        #expect(lease.age(now: now, reach: 1_001.5) == .milliseconds(1_500))
        #expect(lease.age(now: now, reach: 1_000) == .zero)
        #expect(lease.age(now: now, reach: 900) == .zero, "a reach before the lease counts as none")
    }

    @Test func anOldLeaseReadAtStartIsAsOldAsItWas() {
        // Read at start, 40 s after it was stored (seenAt set back by that),
        // while this node's own first renewal reached 40 s past it.
        let now = ContinuousClock.now
        let lease = NodeLease(announcement: announcement, seenAt: now - .seconds(40), storedAt: 1_000)
        #expect(lease.age(now: now, reach: 1_040) >= .seconds(10))
    }
}
