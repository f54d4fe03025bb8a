import Testing

@testable import WharfCluster

/// `ReplayedEntryFilter`: copies that a restarted nats-server 2.9.10 stored
/// again are skipped, on the node that read the originals and on the next
/// one, and nothing a session is owed is.
@Suite struct ReplayedEntryFilterTests {
    /// Stored times 10 ms apart from a fixed moment, as a leader stamps a
    /// session's entries under steady traffic.
    static let start: Int64 = 1_765_000_000_000_000_000
    static func time(_ index: Int64) -> Int64 { start + index * 10_000_000 }

    /// A filter behind a reference, so that `#expect` can ask it (a macro
    /// argument cannot call a mutating method).
    final class Reader {
        var filter: ReplayedEntryFilter
        init(_ filter: ReplayedEntryFilter = ReplayedEntryFilter()) { self.filter = filter }
        /// `id`: the entry's `Nats-Msg-Id` fingerprint; by default one per
        /// stored millisecond, so a copy (same time) has its original's.
        func admits(_ sequence: UInt64, _ time: Int64, id: UInt32? = nil) -> Bool {
            filter.admits(sequence: sequence, time: time, id: id ?? UInt32(truncatingIfNeeded: time / 1_000_000))
        }
    }

    /// Entries 1672 to 1690 read in order, as in the CI run that delivered
    /// a QoS 2 message twice.
    static func readInOrder() -> Reader {
        let reader = Reader()
        for index in 0..<19 { #expect(reader.admits(1672 + UInt64(index), time(Int64(index)))) }
        return reader
    }

    @Test func entriesInOrderAndEntriesReadAgainAreHandedOver() {
        let reader = Self.readInOrder()
        // A new reader after a reconnect starts from the oldest: the same
        // entries at the same places.
        for index in 0..<19 { #expect(reader.admits(1672 + UInt64(index), Self.time(Int64(index)))) }
        #expect(reader.admits(1691, Self.time(19)))
        #expect(reader.filter.lastSequence == 1691)
    }

    @Test func aCopyUnderANewSequenceIsSkipped() {
        let reader = Self.readInOrder()
        // The restarted leader appends 1680's message again at 2300, with
        // its stored time: within a moment of the newest, so only the time
        // to the nanosecond gives it away.
        #expect(!reader.admits(2300, Self.time(8)))
        // A copy below the highest sequence read is one too.
        #expect(!reader.admits(1685, Self.time(2)))
        // And what comes after the copies is new.
        #expect(reader.admits(2301, Self.time(19) + 5_000_000_000))
    }

    /// The 50-cycle chaos run: a leader that held copies numbered the
    /// session's entries 54 places higher than the next leader did. The
    /// node that read them under the first leader recorded those places;
    /// the next node reads the same messages lower down, and they are the
    /// originals there, not copies: handed over. A copy past them still is one.
    @Test func anEntryAtAnEarlierPlaceThanRememberedIsHandedOver() throws {
        let first = Reader()
        for index in 0..<35 { #expect(first.admits(8367 + UInt64(index), Self.time(Int64(index)))) }
        let snapshot = try #require(first.filter.snapshot)
        let next = Reader(ReplayedEntryFilter(snapshot))
        #expect(
            next.filter.judge(sequence: 8313, time: Self.time(0), id: UInt32(truncatingIfNeeded: Self.time(0) / 1_000_000))
                == .renumbered(from: 8367))
        for index in 1..<35 { #expect(next.admits(8313 + UInt64(index), Self.time(Int64(index)))) }
        #expect(!next.admits(8367, Self.time(0)), "the first leader's place is past the original now")
        #expect(!next.admits(9000, Self.time(20)))
    }

    @Test func onlyTheExactStoredTimeMakesACopy() {
        let reader = Self.readInOrder()
        // Stored long before the entries read, yet placed after them: a
        // server whose clock is behind the last leader's stores real
        // messages so. Handed over (a copy of an entry no longer remembered
        // would be too).
        #expect(reader.admits(2300, Self.time(-200)))
        #expect(reader.admits(2301, Self.time(18) - 400_000_000))
        // A nanosecond off a remembered one: another message.
        #expect(reader.admits(2302, Self.time(8) + 1))
    }

    /// A clock too coarse to tell two messages apart gives them one stored
    /// time: their ids still do.
    @Test func twoMessagesStoredAtOneTimeAreBothHandedOver() {
        let reader = Reader()
        let a = ReplayedEntryFilter.fingerprint("x.t.Y2hhb3MtcHViLXEy.3.477>q.t.Y2hhb3Mtc3ViLTE")
        let b = ReplayedEntryFilter.fingerprint("x.t.Y2hhb3MtcHViLXEy.3.478>q.t.Y2hhb3Mtc3ViLTE")
        #expect(a == 3_079_303_927, "FNV-1a, the same on every node")
        #expect(reader.admits(6203, Self.time(0), id: a))
        #expect(reader.admits(6205, Self.time(0), id: b))
        #expect(!reader.admits(7001, Self.time(0), id: a), "a copy of the first")
        #expect(ReplayedEntryFilter.fingerprint(nil) == 0)
    }

    @Test func oldUnacknowledgedEntriesAreHandedOverOnTheNextNode() throws {
        let first = Reader()
        // 500 entries over 5 s: the ring keeps the last 128 only.
        for index in 0..<500 { #expect(first.admits(100 + UInt64(index), Self.time(Int64(index)))) }
        let snapshot = try #require(first.filter.snapshot)
        #expect(snapshot.sequences.count == ReplayedEntryFilter.remembered)
        #expect(snapshot.sequences.first == 472 && snapshot.sequences.last == 599, "oldest first")
        let next = Reader(ReplayedEntryFilter(snapshot))
        #expect(next.filter.snapshot == snapshot)
        // The next node reads the queue from its oldest entry: 5 s old,
        // unacknowledged, at its own place. Handed over, every one.
        for index in 0..<500 { #expect(next.admits(100 + UInt64(index), Self.time(Int64(index)))) }
        // A copy of a recent one, past them: skipped.
        #expect(!next.admits(900, Self.time(497)))
    }

    @Test func theSnapshotTravelsInTheSessionRecord() throws {
        let node = Self.readInOrder()
        var record = SessionRecord(
            clientId: "chaos-sub-1", ownership: SessionOwnership(epoch: 4, owner: "node-c", connected: true), expiryInterval: 300)
        record.handedOver = node.filter.snapshot
        let back = try SessionRecord.decode(record.encoded()).get()
        #expect(back == record)
        let next = Reader(ReplayedEntryFilter(back.handedOver))
        #expect(!next.admits(2300, Self.time(14)), "the next node skips the copy the first would have")
        #expect(next.admits(1691, Self.time(19)), "and takes the next new one")
        #expect(ReplayedEntryFilter(nil).snapshot == nil, "nothing handed over: nothing kept")
    }
}
