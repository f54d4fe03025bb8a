/// When a session's record may forget completed QoS 2 deliveries: once the
/// stream leader, asked a while after their deletes were answered, no
/// longer holds them.
///
/// A delete's success is not enough. nats-server 2.9.10 answers it once
/// its Raft group committed it, but a leader killed with `kill -9` moments
/// later can come back without the entry, and the server elected then may
/// never have had it: the delete is gone, the entry is back. A chaos run
/// saw it: a round of deletes answered just before the `WHARF_Q` leader was
/// killed, the record forgot the five QoS 2 deliveries among them, the
/// new leader still held the entries, and the next node sent all five
/// again as new messages. So the record forgets only below what the leader
/// holds `delay` after the deletes: by then the leader that answered has
/// written them down, or a new one answers for what survived. Entries it
/// still holds there were acknowledged already and are deleted again.
///
/// Pure: the node keeps one per followed session under its lock and does
/// the asking (`CompletedForgetCheckTests`).
struct CompletedForgetCheck {
    /// What the pending question is about: the record may forget below
    /// `limit` once the leader, asked at `due` or later, holds nothing
    /// below it.
    private(set) var pending: (limit: UInt64, due: ContinuousClock.Instant)?
    /// Limits of rounds answered since the pending question was set.
    private(set) var later: UInt64?
    private(set) var asking = false
    /// Below here the leader was found to hold nothing: questions start there.
    private(set) var confirmed: UInt64 = 1

    /// A round of deletes was answered: everything below `limit` is deleted
    /// as far as this node knows.
    mutating func deleted(below limit: UInt64, now: ContinuousClock.Instant, delay: Duration) {
        guard limit > confirmed else { return }
        if let pending {
            if limit > pending.limit { later = max(later ?? 0, limit) }
        } else {
            pending = (limit, now + delay)
        }
    }

    /// The question to ask now, if one is due: the leader's first entry of
    /// the queue at or after `from`, to compare with `below`.
    mutating func due(now: ContinuousClock.Instant) -> (from: UInt64, below: UInt64)? {
        guard !asking, let pending, pending.due <= now else { return nil }
        asking = true
        return (confirmed, pending.limit)
    }

    /// The leader's answer: its first entry at or after the question's
    /// `from` (nil: none). Returns below where the record may forget now,
    /// and whether entries from `leaderFirst` up to the limit are still
    /// there to be deleted again.
    mutating func answered(leaderFirst: UInt64?, now: ContinuousClock.Instant, delay: Duration) -> (
        forgetBelow: UInt64, deleteAgain: Range<UInt64>?
    ) {
        asking = false
        guard let limit = pending?.limit else { return (confirmed, nil) }
        let first = leaderFirst ?? .max
        if first >= limit {
            // All gone: the next question is about what was deleted since.
            confirmed = limit
            pending = later.map { ($0, now + delay) }
            later = nil
            return (limit, nil)
        }
        // Deleted here, but still held there: gone below it only; asked
        // again after those are deleted again.
        confirmed = max(confirmed, first)
        pending = (max(limit, later ?? 0), now + delay)
        later = nil
        return (confirmed, first..<limit)
    }

    /// No answer (no leader, say): asked again after `delay`.
    mutating func unanswered(now: ContinuousClock.Instant, delay: Duration) {
        asking = false
        if let limit = pending?.limit { pending = (limit, now + delay) }
    }
}
