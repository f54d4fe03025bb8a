import DequeModule
import NIOCore

/// A connection's output that waits for the journal (the ordering contract
/// of `BrokerJournal`): each read batch whose replies need their records
/// durable is held with the commit it waits for, and released, in order,
/// when that commit is. Output of later batches queues behind held output
/// even when it needs nothing itself, because order is the protocol's
/// (PUBACKs go out in PUBLISH order, 3.1.1 section 4.6).
///
/// A value type: the handler does the I/O, this decides what goes when.
struct HeldReplies {
    private var held = Deque<(commit: UInt64, bytes: ByteBuffer)>()
    private var commits: UInt64 = 0
    /// The connection is closing: close once what is held has gone out (a
    /// client taken over right after CONNECT still gets its CONNACK first).
    private(set) var closeWhenReleased = false

    var isEmpty: Bool { held.isEmpty }

    /// What to do with a batch's output at flush.
    enum Flush: Equatable {
        /// Nothing waits: write it (commit what the batch wrote, unwaited).
        case write
        /// Commit the batch's effects and hold its output until that commit is durable.
        case commitAndHold
        /// Nothing new to wait for, but earlier output is held: queue behind it.
        case queueBehind
    }

    func flush(repliesMustWait: Bool, journalIsEmpty: Bool) -> Flush {
        if !repliesMustWait && held.isEmpty { return .write }
        if !repliesMustWait && journalIsEmpty { return .queueBehind }
        return .commitAndHold
    }

    /// Holds `output` until commit number `commit` (from `nextCommit`) is durable.
    mutating func nextCommit() -> UInt64 {
        commits += 1
        return commits
    }

    mutating func hold(_ output: ByteBuffer, until commit: UInt64) {
        held.append((commit, output))
    }

    /// Appends `output` to the last held batch (`.queueBehind`).
    mutating func queueBehind(_ output: inout ByteBuffer) {
        precondition(!held.isEmpty, "queueBehind with nothing held")
        held[held.count - 1].bytes.writeBuffer(&output)
    }

    /// Commit `commit` is durable (and every commit before it, as the
    /// contract says): hands over, in order, the output it released.
    /// Returns true if `write` was called.
    mutating func released(upTo commit: UInt64, write: (ByteBuffer) -> Void) -> Bool {
        var wrote = false
        while let first = held.first, first.commit <= commit {
            held.removeFirst()
            if first.bytes.readableBytes > 0 {
                write(first.bytes)
                wrote = true
            }
        }
        return wrote
    }

    /// A commit failed: what waited for it must never go out.
    mutating func dropAll() {
        held.removeAll()
    }

    /// Closing: true if the close must wait for held output (it is then
    /// due once `released` empties the queue: `closeIsDue`).
    mutating func deferClose() -> Bool {
        guard !held.isEmpty else { return false }
        closeWhenReleased = true
        return true
    }

    var closeIsDue: Bool { closeWhenReleased && held.isEmpty }
}
