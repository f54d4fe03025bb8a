import NIOCore

/// A checked reader that has gone quiet asks the stream leader, now and
/// then, whether it holds a message past the last one handed over. Its
/// consumer runs on one server, and a server can fall behind for good:
/// nats-server 2.9.10, restarted after a kill -9, once kept a session
/// queue's R1 reader consumer at its entry 13336 while the leader stored
/// and acknowledged 2,917 more; the consumer sent idle heartbeats, said
/// nothing was pending, and every reader made after it stopped at the same
/// place (a chaos run lost all of them). A message the leader holds that
/// two probes in a row find still not handed over means the consumer's
/// server is not sending it: the reader makes its consumer again. Two,
/// so that a message stored just before a probe, on its way, is not taken
/// for a missing one.
///
/// Pure: the reader keeps it under its lock and does the asking
/// (`OrderedReaderLeaderProbeTests`).
struct OrderedReaderLeaderProbe: Equatable {
    private(set) var lastAsked: NIODeadline?
    private(set) var asking = false
    /// What the leader held first past the last message handed over, at the
    /// last answer.
    private(set) var suspect: UInt64?

    /// Whether to ask now (quiet, at most once per `interval`); if so, the
    /// question counts as asked.
    mutating func due(at now: NIODeadline, every interval: Duration) -> Bool {
        guard !asking else { return false }
        if let lastAsked, now - lastAsked < .nanoseconds(interval.nanoseconds) { return false }
        asking = true
        lastAsked = now
        return true
    }

    /// The leader's answer: the first message it holds past `handedOver`
    /// as the question asked it (nil: none), and what was handed over
    /// meanwhile. True: the consumer's server is not sending it.
    mutating func answered(leaderNext: UInt64?, handedOver: UInt64) -> Bool {
        asking = false
        guard let leaderNext, leaderNext > handedOver else {
            suspect = nil
            return false
        }
        if suspect == leaderNext {
            suspect = nil
            return true
        }
        suspect = leaderNext
        return false
    }

    /// A question that got no answer (the leader was being elected).
    mutating func unanswered() {
        asking = false
    }

    /// A new consumer: what the last one did not send says nothing of it.
    mutating func forget() {
        suspect = nil
    }
}
