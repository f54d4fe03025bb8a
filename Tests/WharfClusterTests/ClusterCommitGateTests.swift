import Synchronization
import Testing

@testable import WharfCluster

@Suite struct ClusterCommitGateTests {
    final class Results: Sendable {
        let values = Mutex<[String]>([])
        func add(_ value: String) { values.withLock { $0.append(value) } }
        var all: [String] { values.withLock { $0 } }
    }

    @Test func waitsForEveryWriteAndTheLocalCommit() {
        let gate = ClusterCommitGate()
        let results = Results()
        gate.add()
        gate.add()
        gate.seal { results.add("done \($0)") }
        gate.finished(ok: true)
        gate.innerDone(true)
        #expect(results.all.isEmpty)
        gate.finished(ok: true)
        #expect(results.all == ["done true"])
    }

    @Test func oneFailedWriteFailsTheBatch() {
        let gate = ClusterCommitGate()
        let results = Results()
        gate.add()
        gate.finished(ok: false)
        gate.seal { results.add("done \($0)") }
        gate.innerDone(true)
        #expect(results.all == ["done false"])
    }

    /// A step (a QoS 2 exchange marked routed) runs only once the writes
    /// before it are in, learns whether they all were, and holds the batch
    /// until its own write ends.
    @Test func aStepWaitsForTheOtherWritesAndHoldsTheBatch() {
        let gate = ClusterCommitGate()
        let results = Results()
        gate.add()
        gate.add()
        gate.afterOtherWrites { stored in
            results.add("step \(stored)")
            gate.add()  // the record write it starts
            gate.finished(ok: true)
        }
        gate.seal { results.add("done \($0)") }
        gate.innerDone(true)
        gate.finished(ok: true)
        #expect(results.all.isEmpty, "one write still out")
        gate.finished(ok: true)
        #expect(results.all == ["step true"], "the step's write holds the batch")
        gate.finished(ok: true)
        #expect(results.all == ["step true", "done true"])
    }

    @Test func aStepLearnsThatAWriteBeforeItFailed() {
        let gate = ClusterCommitGate()
        let results = Results()
        gate.add()
        gate.afterOtherWrites { stored in
            results.add("step \(stored)")
            gate.finished(ok: stored)
        }
        gate.finished(ok: false)
        gate.seal { results.add("done \($0)") }
        gate.innerDone(true)
        #expect(results.all == ["step false", "done false"])
        // With nothing outstanding it runs at once.
        let idle = ClusterCommitGate()
        idle.afterOtherWrites { stored in
            results.add("idle \(stored)")
            idle.finished(ok: true)
        }
        #expect(results.all.last == "idle true")
    }

    /// HeldReplies releases everything up to a completed commit, so a later
    /// commit must never be reported before an earlier one.
    @Test func sequencerReportsCommitsInTheOrderTheyWereMade() {
        let sequencer = CommitSequencer()
        let results = Results()
        let first = sequencer.ticket()
        let second = sequencer.ticket()
        let third = sequencer.ticket()
        sequencer.complete(third, ok: true) { _ in results.add("third") }
        sequencer.complete(second, ok: false) { _ in results.add("second") }
        #expect(results.all.isEmpty)
        sequencer.complete(first, ok: true, then: nil)
        #expect(results.all == ["second", "third"])
    }

    @Test func readinessSaysTheFirstReason() {
        var readiness = ClusterReadiness(leaseSeconds: 10)
        #expect(readiness.reason == "NATS: connecting")
        readiness.natsConnected = true
        readiness.assetsProblem = "insufficient resources"
        #expect(readiness.reason == "JetStream streams and buckets not in place: insufficient resources")
        readiness.assetsReady = true
        readiness.inboxReady = true
        #expect(readiness.reason == "other nodes' leases not loaded yet")
        // Where the awaited reader is, when the node can say.
        readiness.readerProgress = "watch of WHARF_NODES: consumer o1, 2 from it through stream sequence 9, 1 left after it, 0 resets"
        #expect(
            readiness.reason
                == "other nodes' leases not loaded yet (watch of WHARF_NODES: consumer o1, 2 from it through stream sequence 9, "
                + "1 left after it, 0 resets)")
        readiness.readerProgress = nil
        readiness.leasesLoaded = true
        readiness.routesLoaded = true
        readiness.retainedLoaded = true
        #expect(readiness.reason == "lease not announced yet")
        readiness.leaseAge = 1
        #expect(readiness.isReady)
        readiness.leaseAge = 11
        #expect(readiness.reason == "lease not renewed for 11 s (lease 10 s)")
    }
}
