import DequeModule

/// What this node knows of the inbound QoS 2 exchanges it routed: whether
/// every copy was stored, for the node that takes their session next.
///
/// An exchange's record is marked routed only after its copies are stored,
/// in a write of its own. A node that loses the session in between (its
/// lease lapsed while NATS had no leader, or a connect elsewhere took the
/// session) stored the copies but could not say so. The next node would
/// route them again, resting on JetStream's duplicate table, which does
/// not always know them: a server that caught up from a snapshot, or whose
/// stream was reset, knows only the ids of messages still stored, and a
/// session's queue entry is purged as soon as it is acknowledged. So this
/// node keeps the outcome for JetStream's duplicate window and tells a
/// claiming node that asks (`ClusterNode+exchanges`).
///
/// A value, changed under the node's lock. Keys are `InboundExchange.key`.
/// Kept in arrival order, so expiry and the capacity bound both drop from
/// the front.
struct ExchangeOutcomes: Sendable {
    enum Outcome: Sendable, Equatable {
        /// Its copies were sent and are not all answered yet: stored, or
        /// given up on after the forward deadline.
        case routing
        /// Every copy was stored.
        case routed
        /// A copy was not stored within the deadline (it may still land:
        /// the next node routes it again under the same identity).
        case unknown
    }

    private struct Entry: Sendable {
        var outcome: Outcome
        var since: ContinuousClock.Instant
    }

    /// How long an outcome is kept: JetStream's duplicate window, past
    /// which the next node's routing would not be recognised anyway.
    let window: Duration
    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var order = Deque<(key: String, since: ContinuousClock.Instant)>()

    init(window: Duration = .seconds(120), capacity: Int = 100_000) {
        self.window = window
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.count }

    /// The exchange's copies were just sent.
    mutating func routing(_ key: String, now: ContinuousClock.Instant) {
        prune(now: now)
        entries[key] = Entry(outcome: .routing, since: now)
        order.append((key, now))
        while entries.count > capacity, let oldest = order.popFirst() {
            if entries[oldest.key]?.since == oldest.since { entries.removeValue(forKey: oldest.key) }
        }
    }

    /// Every copy answered: `stored` if all were stored. Nothing if the
    /// exchange is not known (it expired, or was never routed here).
    mutating func finished(_ key: String, stored: Bool) {
        guard entries[key]?.outcome == .routing else { return }
        entries[key]?.outcome = stored ? .routed : .unknown
    }

    /// What is known of `key`; nil if nothing (never routed here, or
    /// longer ago than the window).
    func outcome(of key: String, now: ContinuousClock.Instant) -> Outcome? {
        guard let entry = entries[key], now - entry.since < window else { return nil }
        return entry.outcome
    }

    private mutating func prune(now: ContinuousClock.Instant) {
        while let oldest = order.first, now - oldest.since >= window {
            order.removeFirst()
            if entries[oldest.key]?.since == oldest.since { entries.removeValue(forKey: oldest.key) }
        }
    }
}
