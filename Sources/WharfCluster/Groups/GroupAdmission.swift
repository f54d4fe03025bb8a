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

    /// The decision for one more publish under `limit`, and whether to ask
    /// the stream again now (then `answered` follows). An admitted one is
    /// `finished` once its append is done.
    mutating func admit(limit: Int, now: ContinuousClock.Instant) -> (Decision, ask: Bool) {
        let estimate = estimate
        var ask = false
        if !asking {
            if let askedAt {
                let age = now - askedAt
                ask = age >= Self.interval || (estimate * 2 >= limit && age >= Self.nearLimitInterval)
            } else {
                ask = estimate * 2 >= limit
            }
        }
        if ask {
            asking = true
            askedAt = now
        }
        guard estimate >= limit else {
            inFlight += 1
            return (.admit, ask)
        }
        return (served ?? true ? .fullAndServed : .full, ask)
    }

    /// An admitted append is done: stored at `sequence`, or not stored (nil).
    mutating func finished(sequence: UInt64?) {
        inFlight -= min(inFlight, 1)
        if let sequence { landed.append(sequence) }
    }

    /// The answer to the last ask: the group's subject holds `stored`
    /// entries as of the stream's `lastSequence`; `served` whether members
    /// work through them. Nil: no answer (NATS did not give one).
    mutating func answered(_ answer: (stored: Int, lastSequence: UInt64, served: Bool)?) {
        asking = false
        guard let answer else { return }
        stored = answer.stored
        served = answer.served
        landed.removeAll { $0 <= answer.lastSequence }
    }
}
