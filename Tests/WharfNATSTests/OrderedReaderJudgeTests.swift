import Testing

@testable import WharfNATS

/// `JetStreamOrderedConsumer.State.judge`: what a reader hands over, with
/// the chaos run's figures: a replica that diverged after a kill -9 held
/// at 14955 a message stored 2 s before its 14954.
@Suite struct OrderedReaderJudgeTests {
    static let subject = "_INBOX.abc_7"

    static func metadata(stream: UInt64, consumer: UInt64, at nanos: Int64, pending: UInt64 = 5) -> JetStreamMessageMetadata {
        JetStreamMessageMetadata(
            stream: "WHARF_Q", consumer: "ordered_abc_7", delivered: 1, streamSequence: stream, consumerSequence: consumer,
            timestamp: JetStreamTimestamp(nanosecondsSinceEpoch: nanos), pending: pending)
    }

    static func reader(startingAt first: UInt64? = nil, storedAt firstTime: Int64 = 0) -> JetStreamOrderedConsumer.State {
        var state = JetStreamOrderedConsumer.State()
        state.deliverSubject = subject
        if let first { state.startCheck = .first(first, time: JetStreamTimestamp(nanosecondsSinceEpoch: firstTime)) }
        return state
    }

    let second: Int64 = 1_000_000_000

    @Test func aMessageStoredBeforeTheLastOneIsNotHandedOver() {
        var state = Self.reader()
        #expect(
            state.judge(Self.metadata(stream: 14954, consumer: 1, at: 32 * second), on: Self.subject, checksStart: true)
                == .deliver(caughtUp: false))
        #expect(
            state.judge(Self.metadata(stream: 14955, consumer: 2, at: 30 * second), on: Self.subject, checksStart: true)
                == .divergent(at: 14955))
        #expect(state.lastRevision == 14954, "the next consumer starts after the last one handed over")
        #expect(state.deliverSubject == "", "nothing more is taken from this consumer")
    }

    @Test func theFirstMessageMustBeTheLeadersToTheNanosecond() {
        var other = Self.reader(startingAt: 14956, storedAt: 39 * second)
        #expect(
            other.judge(Self.metadata(stream: 14956, consumer: 1, at: 30 * second), on: Self.subject, checksStart: true)
                == .divergent(at: 14956))

        var later = Self.reader(startingAt: 14956, storedAt: 39 * second)
        #expect(
            later.judge(Self.metadata(stream: 14957, consumer: 1, at: 39 * second), on: Self.subject, checksStart: true)
                == .behindLeader(expected: 14956))

        var same = Self.reader(startingAt: 14956, storedAt: 39 * second)
        #expect(
            same.judge(Self.metadata(stream: 14956, consumer: 1, at: 39 * second), on: Self.subject, checksStart: true)
                == .deliver(caughtUp: false))
    }

    /// After a reset for a message a moment "early" (another server's clock),
    /// the leader vouches for it: handed over, and the reader goes on.
    @Test func aMessageTheLeaderVouchedForIsHandedOverWhateverTheClock() {
        var state = Self.reader()
        #expect(
            state.judge(Self.metadata(stream: 10, consumer: 1, at: 5 * second), on: Self.subject, checksStart: true)
                == .deliver(caughtUp: false))
        #expect(
            state.judge(Self.metadata(stream: 11, consumer: 2, at: 5 * second - 1_000), on: Self.subject, checksStart: true)
                == .divergent(at: 11))
        // The next consumer: the leader's first after 10 is that same 11.
        state.deliverSubject = "_INBOX.abc_8"
        state.expectedConsumerSequence = 1
        state.startCheck = .first(11, time: JetStreamTimestamp(nanosecondsSinceEpoch: 5 * second - 1_000))
        #expect(
            state.judge(Self.metadata(stream: 11, consumer: 1, at: 5 * second - 1_000), on: "_INBOX.abc_8", checksStart: true)
                == .deliver(caughtUp: false))
        #expect(
            state.judge(Self.metadata(stream: 12, consumer: 2, at: 5 * second + 1, pending: 0), on: "_INBOX.abc_8", checksStart: true)
                == .deliver(caughtUp: true))
        #expect(state.lastRevision == 12)
    }

    @Test func unCheckedReadersAndOtherConsumersAreJudgedAsBefore() {
        var watcher = Self.reader()
        #expect(
            watcher.judge(Self.metadata(stream: 2, consumer: 1, at: 9 * second), on: Self.subject, checksStart: false)
                == .deliver(caughtUp: false))
        #expect(
            watcher.judge(Self.metadata(stream: 3, consumer: 2, at: 1 * second), on: Self.subject, checksStart: false)
                == .deliver(caughtUp: false), "a watcher of last values is not checked")
        #expect(watcher.judge(Self.metadata(stream: 4, consumer: 9, at: 9 * second), on: Self.subject, checksStart: false) == .gap)
        #expect(watcher.judge(Self.metadata(stream: 4, consumer: 3, at: 9 * second), on: "_INBOX.old_1", checksStart: false) == .stale)
    }
}
