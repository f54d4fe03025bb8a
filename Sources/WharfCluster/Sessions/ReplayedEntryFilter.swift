import Synchronization

/// Tells a session's queue entries from copies that nats-server 2.9.10
/// stored a second time. A server restarted after a kill -9 can apply
/// append operations from its Raft log again that it had applied before,
/// and store their messages again past its last one, under new sequences
/// (its check for operations already applied counts on a tally of refused
/// publishes that its last snapshot may not match). The chaos run found
/// such copies in a replica's store. Readers refuse them from a replica
/// (`JetStreamOrderedConsumer`), but if that server leads `WHARF_Q`, every
/// reader gets them as new entries, and a subscriber takes a QoS 2 message
/// it completed before a second time.
///
/// A copy keeps its original's stored time to the nanosecond (the leader's
/// time travels in the Raft entry) and its `Nats-Msg-Id` (every append
/// Wharf makes has its own). So an entry with the stored time and the id of
/// one handed over before, under a later sequence, is a copy: skipped. The
/// id guards against a coarse clock giving two messages one time. Only that
/// exact match counts. An entry merely stored "before" the newest one read past
/// it would catch older copies too, but it would also drop real messages
/// whenever a server's clock was behind another's, and losing messages is
/// worse than a copy of one.
///
/// It remembers the last `remembered` entries handed over: a copy of an
/// older one goes through (a QoS 2 message delivered twice, as before).
/// Pure, so the whole decision is tested without a server
/// (`ReplayedEntryFilterTests`). The session record keeps its `Snapshot`,
/// so the next node that delivers the session knows what this one handed
/// over.
public struct ReplayedEntryFilter: Sendable, Equatable {
    /// How many entries handed over it remembers by stored time.
    static let remembered = 128

    struct Entry: Equatable {
        var sequence: UInt64
        var time: Int64
        var id: UInt32
    }

    /// A stable 32-bit fingerprint of a `Nats-Msg-Id` (FNV-1a): the same on
    /// every node and run, which Swift's seeded `Hasher` is not. 0 for none.
    public static func fingerprint(_ messageId: String?) -> UInt32 {
        guard let messageId else { return 0 }
        var hash: UInt32 = 2_166_136_261
        for byte in messageId.utf8 {
            hash ^= UInt32(byte)
            hash &*= 16_777_619
        }
        return hash
    }

    /// The last `remembered` entries handed over, a ring: `next` is where
    /// the next one goes once it is full.
    private(set) var recent: [Entry] = []
    private var next = 0
    /// The highest sequence handed over, and the latest stored time
    /// remembered.
    private(set) var lastSequence: UInt64 = 0
    private(set) var newestTime: Int64 = .min

    public init() {}

    /// What the filter makes of an entry.
    public enum Verdict: Equatable, Sendable {
        /// New, or read again at its place: handed over.
        case handOver
        /// A copy of one handed over at an earlier place: skipped.
        case copy
        /// Handed over before at the later place `from`: handed over again
        /// (see `judge`).
        case renumbered(from: UInt64)
    }

    /// Whether the entry at `sequence`, stored at `time` (Unix nanoseconds)
    /// with the `Nats-Msg-Id` whose `fingerprint` is `id`, is one to hand
    /// over; if so, it is remembered. An entry read again (a new reader
    /// starts from the oldest) is handed over again.
    public mutating func admits(sequence: UInt64, time: Int64, id: UInt32) -> Bool {
        judge(sequence: sequence, time: time, id: id) != .copy
    }

    /// `admits`, saying why.
    public mutating func judge(sequence: UInt64, time: Int64, id: UInt32) -> Verdict {
        // An entry stored after every one remembered is no copy of them: the
        // usual case, decided without a search.
        if time <= newestTime, let index = recent.firstIndex(where: { $0.time == time && $0.id == id }) {
            let remembered = recent[index].sequence
            if remembered == sequence { return .handOver }
            // A copy goes past its original: only a later place is one.
            if remembered < sequence { return .copy }
            // An earlier place: the message was handed over under a place
            // this stream no longer gives it. A leader holding copies
            // numbers what follows them higher than the servers that do
            // not; when it dies, the next leader has the same messages
            // lower down. The 50-cycle chaos run lost 15 QoS 2 messages
            // so: PUBLISHed from the first leader's numbering, never
            // PUBRELed, and the next node skipped them in the new
            // leader's numbering as copies. Handed over (a duplicate at
            // worst), remembered at this place from now on.
            recent[index].sequence = sequence
            return .renumbered(from: remembered)
        }
        remember(Entry(sequence: sequence, time: time, id: id))
        return .handOver
    }

    private mutating func remember(_ entry: Entry) {
        if recent.count < Self.remembered {
            recent.append(entry)
        } else {
            recent[next] = entry
            next = (next + 1) % Self.remembered
        }
        lastSequence = max(lastSequence, entry.sequence)
        newestTime = max(newestTime, entry.time)
    }

    /// The filter as the session record keeps it: compact, because the
    /// record is written at every QoS 2 PUBREC.
    public struct Snapshot: Codable, Sendable, Equatable {
        public var lastSequence: UInt64
        public var newestTime: Int64
        /// The remembered entries, oldest first.
        public var sequences: [UInt64]
        /// How long before `newestTime` each was stored, in nanoseconds
        /// (short numbers: the ring spans moments).
        public var before: [UInt64]
        /// Their ids' fingerprints.
        public var ids: [UInt32]
    }

    public var snapshot: Snapshot? {
        guard lastSequence > 0 else { return nil }
        let ordered = Array(recent[next...] + recent[..<next])
        return Snapshot(
            lastSequence: lastSequence, newestTime: newestTime, sequences: ordered.map(\.sequence),
            before: ordered.map { UInt64(bitPattern: newestTime &- $0.time) }, ids: ordered.map(\.id))
    }

    /// From a record's snapshot (nil: a session nothing was handed over
    /// from yet). A snapshot some other writer garbled gives what it can:
    /// entries beyond the shortest list are dropped.
    public init(_ snapshot: Snapshot?) {
        guard let snapshot else { return }
        let entries = zip(zip(snapshot.sequences, snapshot.before), snapshot.ids).suffix(Self.remembered)
        for ((sequence, before), id) in entries {
            recent.append(Entry(sequence: sequence, time: snapshot.newestTime &- Int64(bitPattern: before), id: id))
        }
        lastSequence = snapshot.lastSequence
        newestTime = snapshot.newestTime
    }
}

/// One session's filter on this node, shared by its queue reader (which
/// asks it per entry) and its record writes (which keep its snapshot).
final class ReplayedEntryGuard: Sendable {
    private let filter: Mutex<ReplayedEntryFilter>

    init(_ snapshot: ReplayedEntryFilter.Snapshot?) {
        filter = Mutex(ReplayedEntryFilter(snapshot))
    }

    func judge(sequence: UInt64, time: Int64, id: UInt32) -> ReplayedEntryFilter.Verdict {
        filter.withLock { $0.judge(sequence: sequence, time: time, id: id) }
    }

    var snapshot: ReplayedEntryFilter.Snapshot? { filter.withLock { $0.snapshot } }
}
