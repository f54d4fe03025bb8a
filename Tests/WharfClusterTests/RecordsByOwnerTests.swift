import Testing

@testable import WharfCluster

/// `RecordsByOwner`: the records a lease renewal looks at are those of runs
/// that are gone, and a record follows its owner as the watch rewrites it.
@Suite struct RecordsByOwnerTests {
    let a1 = RecordsByOwner.Run(owner: "a", boot: "1")
    let a2 = RecordsByOwner.Run(owner: "a", boot: "2")
    let b1 = RecordsByOwner.Run(owner: "b", boot: "1")

    @Test func onlyTheRecordsOfGoneRunsAreVisited() {
        var index = RecordsByOwner()
        index.set("k1", clientId: "c1", run: a1)
        index.set("k2", clientId: "c2", run: a2)
        index.set("k3", clientId: "c3", run: b1)
        var asked: [RecordsByOwner.Run] = []
        var visited: [String] = []
        let found = index.records(
            ofGoneRuns: { run in
                asked.append(run)
                return run == a1
            }
        ) { key, _ in
            visited.append(key)
            return true
        }
        #expect(found.map(\.clientId) == ["c1"])
        #expect(visited == ["k1"], "the records of live runs are not looked at")
        #expect(Set(asked) == [a1, a2, b1], "each run is asked once")
        #expect(asked.count == 3)
    }

    @Test func aRecordMovesWithItsOwnerAndLeavesWhenDeleted() {
        var index = RecordsByOwner()
        index.set("k1", clientId: "c1", run: a1)
        index.set("k1", clientId: "c1", run: b1)
        #expect(index.records(ofGoneRuns: { $0 == a1 }).isEmpty, "adopted by b: a's death no longer concerns it")
        #expect(index.records(ofGoneRuns: { $0 == b1 }).map(\.key) == ["k1"])
        #expect(index.keysByRun[a1] == nil, "an empty run is dropped")
        index.set("k1", clientId: "c1", run: nil)
        #expect(index.count == 0)
        #expect(index.records(ofGoneRuns: { _ in true }).isEmpty)
    }

    @Test func theLimitAndTheFilterBoundWhatIsReturned() {
        var index = RecordsByOwner()
        for n in 0..<10 { index.set("k\(n)", clientId: "c\(n)", run: a1) }
        #expect(index.records(ofGoneRuns: { _ in true }, limit: 4).count == 4)
        #expect(index.records(ofGoneRuns: { _ in true }, limit: 0).isEmpty)
        let odd = index.records(ofGoneRuns: { _ in true }) { key, _ in key.last.map { "13579".contains($0) } == true }
        #expect(Set(odd.map(\.key)) == ["k1", "k3", "k5", "k7", "k9"])
    }
}
