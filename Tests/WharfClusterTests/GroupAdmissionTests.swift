import Testing

@testable import WharfCluster

/// `GroupAdmission`: the publishing node's bound on a consumer group's queue
/// in the cluster, from the stream's answers and its own appends.
@Suite struct GroupAdmissionTests {
    static let start = ContinuousClock.now

    static func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    /// `count` admitted and stored at sequences from `sequence` on, from
    /// `ms` on; whether any asked.
    static func publish(_ admission: inout GroupAdmission, _ count: Int, from ms: Int = 0, sequence: UInt64 = 1) -> Bool {
        var asked = false
        for i in 0..<count {
            let (decision, ask) = admission.admit(limit: 10, now: at(ms + i))
            #expect(decision == .admit, "publish \(i)")
            admission.finished(sequence: sequence + UInt64(i))
            asked = asked || ask
        }
        return asked
    }

    @Test func admitsUpToTheLimitAskingOnceHalfIsReached() {
        var admission = GroupAdmission()
        var asks = 0
        for i in 0..<10 {
            let (decision, ask) = admission.admit(limit: 10, now: Self.at(i))
            #expect(decision == .admit, "publish \(i)")
            if ask { asks += 1 }
        }
        #expect(asks == 1, "asked once, at half the limit, and not again while the question is open")
        #expect(admission.inFlight == 10, "admitted, none stored yet: all count")
        let (full, askAgain) = admission.admit(limit: 10, now: Self.at(20))
        #expect(full == .fullAndServed && !askAgain, "full, and no answer yet: the publisher waits for one")
        admission.answered((stored: 0, outstanding: 0, lastSequence: 0, served: false))
        #expect(admission.estimate == 10, "what is still on its way is in no answer")
        #expect(admission.admit(limit: 10, now: Self.at(30)).0 == .full, "nobody works through it: the newest is dropped")
    }

    @Test func anAnswerCountsWhatWasStoredUpToItsSequenceOnce() {
        var admission = GroupAdmission()
        #expect(!Self.publish(&admission, 5, sequence: 101))
        #expect(Self.publish(&admission, 2, from: 5, sequence: 106), "the sixth asks: five stored, half the limit")
        // Stored as of 106: the members took all but two of 101...106.
        admission.answered((stored: 2, outstanding: 0, lastSequence: 106, served: true))
        #expect(admission.stored == 2 && admission.landed == [107] && admission.served == true)
        #expect(Self.publish(&admission, 7, from: 300, sequence: 108), "near the limit again: asks")
        #expect(admission.admit(limit: 10, now: Self.at(400)).0 == .fullAndServed, "2 + 8: full, with members working")
    }

    @Test func aFullGroupIsAskedAgainAfterAPauseAndOpensOnceDrained() {
        var admission = GroupAdmission()
        _ = Self.publish(&admission, 6)
        admission.answered((stored: 10, outstanding: 0, lastSequence: 6, served: true))
        let (first, asked) = admission.admit(limit: 10, now: Self.at(100))
        #expect(first == .fullAndServed && !asked, "asked 95 ms ago: not again yet")
        let (second, asksNow) = admission.admit(limit: 10, now: Self.at(300))
        #expect(second == .fullAndServed && asksNow)
        admission.answered((stored: 3, outstanding: 0, lastSequence: 6, served: true))
        #expect(admission.admit(limit: 10, now: Self.at(310)).0 == .admit)
    }

    @Test func noAnswerOrAFailedAppendKeepsTheCountHonest() {
        var admission = GroupAdmission()
        _ = Self.publish(&admission, 6)
        admission.answered(nil)
        #expect(admission.stored == 0 && admission.landed.count == 6 && admission.served == nil)
        #expect(admission.admit(limit: 10, now: Self.at(400)).ask, "asked again after the pause")
        admission.finished(sequence: nil)
        #expect(admission.estimate == 6, "an append that was not stored counts for nothing")
    }

    @Test func aPolicysMaxLengthCountsWhatWaitsForMembers() {
        var admission = GroupAdmission()
        for i in 0..<3 {
            #expect(admission.admit(limit: 100, maxLength: 3, now: Self.at(i)).0 == .admit)
            admission.finished(sequence: UInt64(i + 1))
        }
        #expect(admission.admit(limit: 100, maxLength: 3, now: Self.at(3)).0 == .overLength, "reject-new: the fourth is refused")
        // Two of the three are out with members: one waits.
        admission.answered((stored: 3, outstanding: 2, lastSequence: 3, served: true))
        #expect(admission.waiting == 1)
        #expect(admission.admit(limit: 100, maxLength: 3, now: Self.at(300)).0 == .admit)
        admission.finished(sequence: 4)
        #expect(admission.admit(limit: 100, maxLength: 3, now: Self.at(301)).0 == .admit)
        admission.finished(sequence: 5)
        let estimate = admission.estimate
        #expect(admission.admit(limit: 100, maxLength: 3, dropOldest: true, now: Self.at(302)).0 == .admitDroppingOldest)
        admission.finished(sequence: 6)
        #expect(admission.estimate == estimate, "drop-oldest: one in, one out")
        #expect(admission.waiting == 3)
    }
}
