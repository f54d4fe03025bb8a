/// Whether a publish may go into a consumer group's queue in the cluster,
/// as the publishing node sees it: `max_queued_messages` +
/// `max_inflight_messages` per group, counted against what the stream said
/// the group's subject holds (stored and not acknowledged: a work queue
/// deletes what was acknowledged) as of its last sequence, plus what this
/// node appended past that sequence or still has on its way.
///
/// Why not JetStream's own per-subject limit: `WHARF_G` is a work queue,
/// whose acknowledgements delete entries outside the stream's log, so on
/// nats-server 2.9.10 each replica counts a subject differently when a new
/// message is applied. With `discard_new_per_subject` a full group made the
/// replicas disagree about which messages they stored (found in a test: a
/// message the leader acknowledged missing from the queue after a leader
/// change, others stored twice). Without that limit every replica stores
/// every message; the bound here is checked before the append instead.
/// It can overshoot by what other nodes appended since the last answer
/// (one node's own appends are counted exactly), and is asked again before
/// each half of the limit a node appends.
struct GroupAdmission {
    enum Decision: Equatable {
        case admit
        /// Admitted past the message's policy `max_length` with
        /// `drop-oldest`: the oldest waiting entry is to be deleted.
        case admitDroppingOldest
        /// Refused: the message's policy `max_length` with `reject-new`.
        case overLength
        /// Full, and members are working through it (a pull waits at the
        /// server, or messages are out with members), or no answer has said
        /// yet whether they are: a publisher that can wait does.
        case fullAndServed
        /// Full, and nobody is working through it: the newest is dropped.
        case full
    }

    /// How often to ask at most when near the limit, and at least while
    /// publishes keep coming.
    static let nearLimitInterval = Duration.milliseconds(250)
    static let interval = Duration.seconds(10)

    private(set) var stored = 0
    /// Of `stored`, what is out with members (not waiting).
    private(set) var outstanding = 0
    /// Nil until the stream and consumer answered.
    private(set) var served: Bool?
    /// Admitted here and not stored yet: in no answer.
    private(set) var inFlight = 0
    /// Stream sequences of what was stored from here past the last
    /// answer's last sequence.
    private(set) var landed: [UInt64] = []
    private var askedAt: ContinuousClock.Instant?
    private var asking = false

    var estimate: Int { stored + inFlight + landed.count }

    /// What waits for a member: the estimate less what members hold, the
    /// count a policy's `max_length` applies to (as on one node).
    var waiting: Int { max(0, estimate - outstanding) }

    /// The decision for one more publish under `limit` (0: none) and the
    /// message's policy `maxLength` (`dropOldest`: its overflow), and
    /// whether to ask the stream again now (then `answered` follows). An
    /// admitted one is `finished` once its append is done.
    mutating func admit(
        limit: Int, maxLength: Int? = nil, dropOldest: Bool = false, now: ContinuousClock.Instant
    ) -> (Decision, ask: Bool) {
        let estimate = estimate
        let waiting = waiting
        var ask = false
        if !asking {
            let near = (limit > 0 && estimate * 2 >= limit) || maxLength.map { waiting * 2 >= $0 } ?? false
            if let askedAt {
                let age = now - askedAt
                ask = age >= Self.interval || (near && age >= Self.nearLimitInterval)
            } else {
                ask = near
            }
        }
        if ask {
            asking = true
            askedAt = now
        }
        if let maxLength, waiting >= maxLength {
            guard dropOldest else { return (.overLength, ask) }
            // The oldest waiting one goes for this one: the count stays.
            inFlight += 1
            if stored > outstanding {
                stored -= 1
            } else if !landed.isEmpty {
                landed.removeFirst()
            }
            return (.admitDroppingOldest, ask)
        }
        guard limit <= 0 || estimate < limit else {
            return (served ?? true ? .fullAndServed : .full, ask)
        }
        inFlight += 1
        return (.admit, ask)
    }

    /// An admitted append is done: stored at `sequence`, or not stored (nil).
    mutating func finished(sequence: UInt64?) {
        inFlight -= min(inFlight, 1)
        if let sequence { landed.append(sequence) }
    }

    /// The answer to the last ask: the group's subject holds `stored`
    /// entries as of the stream's `lastSequence`; `served` whether members
    /// work through them. Nil: no answer (NATS did not give one).
    mutating func answered(_ answer: (stored: Int, outstanding: Int, lastSequence: UInt64, served: Bool)?) {
        asking = false
        guard let answer else { return }
        stored = answer.stored
        outstanding = answer.outstanding
        served = answer.served
        landed.removeAll { $0 <= answer.lastSequence }
    }
}
