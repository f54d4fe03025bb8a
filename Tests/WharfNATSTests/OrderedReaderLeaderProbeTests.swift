import NIOCore
import Testing

@testable import WharfNATS

/// `OrderedReaderLeaderProbe`: a quiet reader whose consumer's server stopped
/// sending makes its consumer again after two answers from the leader, and
/// not for a message on its way, nor more often than asked.
@Suite struct OrderedReaderLeaderProbeTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// The probe behind a reference, so that `#expect` can ask it (a macro
    /// argument cannot call a mutating method).
    final class Probe {
        var value = OrderedReaderLeaderProbe()
        var suspect: UInt64? { value.suspect }
        func due(at now: NIODeadline, every interval: Duration) -> Bool { value.due(at: now, every: interval) }
        func answered(leaderNext: UInt64?, handedOver: UInt64) -> Bool {
            value.answered(leaderNext: leaderNext, handedOver: handedOver)
        }
        func unanswered() { value.unanswered() }
        func forget() { value.forget() }
    }

    @Test func twoAnswersOfOneUnsentMessageMeanItsServerIsNotSendingIt() {
        let probe = Probe()
        // The chaos run: the reader handed over up to 13336; the leader holds 13338.
        #expect(probe.due(at: start, every: .seconds(5)))
        #expect(!probe.answered(leaderNext: 13338, handedOver: 13336), "once: maybe on its way")
        #expect(probe.due(at: start + .seconds(5), every: .seconds(5)))
        #expect(probe.answered(leaderNext: 13338, handedOver: 13336), "twice: its server is not sending it")
        #expect(probe.suspect == nil, "the next consumer starts with no suspicion")
    }

    @Test func aMessageHandedOverMeanwhileOrNothingHeldClearsTheSuspicion() {
        let probe = Probe()
        _ = probe.due(at: start, every: .seconds(5))
        #expect(!probe.answered(leaderNext: 13338, handedOver: 13336))
        _ = probe.due(at: start + .seconds(5), every: .seconds(5))
        #expect(!probe.answered(leaderNext: 13338, handedOver: 13338), "it came meanwhile")
        _ = probe.due(at: start + .seconds(10), every: .seconds(5))
        #expect(!probe.answered(leaderNext: nil, handedOver: 13338), "the leader holds nothing past it")
        #expect(probe.suspect == nil)
        _ = probe.due(at: start + .seconds(15), every: .seconds(5))
        #expect(!probe.answered(leaderNext: 13400, handedOver: 13338))
        _ = probe.due(at: start + .seconds(20), every: .seconds(5))
        #expect(!probe.answered(leaderNext: 13402, handedOver: 13338), "another message each time: traffic, not a stall")
    }

    @Test func itAsksAtMostOncePerIntervalAndOneQuestionAtATime() {
        let probe = Probe()
        #expect(probe.due(at: start, every: .seconds(5)))
        #expect(!probe.due(at: start + .seconds(6), every: .seconds(5)), "the first is still unanswered")
        probe.unanswered()
        #expect(!probe.due(at: start + .seconds(4), every: .seconds(5)), "asked 4 s ago")
        #expect(probe.due(at: start + .seconds(5), every: .seconds(5)))
        _ = probe.answered(leaderNext: 9, handedOver: 8)
        probe.forget()
        #expect(probe.suspect == nil, "a new consumer")
    }
}
