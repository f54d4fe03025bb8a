/// Publisher flow control for one queue, a session's or a consumer group's
/// (RabbitMQ-style): once the queue passes its high-water mark, a publisher
/// adding to it is paused until the queue drains to its low-water mark, so a
/// fast publisher waits for its consumers instead of overflowing the queue.
///
/// A queue whose consumers make no progress for `maxPauseNanos` of time their
/// event loops actually had is stuck: publishers are no longer held for it,
/// and what overflows it is dropped and counted, until it drains. A consumer
/// is never judged for time its loop spent elsewhere (a heavy packet on
/// another connection of that loop): publishers then keep waiting.
///
/// A value type kept under its queue's lock: it decides, and hands back the
/// publishers to wake, which the queue resumes after unlocking.
struct PublisherPacing: Sendable {
    /// Longest a publisher is held for one queue without its consumers making
    /// progress (the connection's pause timer uses the same bound).
    static let maxPauseNanos: UInt64 = 250_000_000

    /// How much running time one consumer's event loop had had, when asked.
    struct ConsumerClock: Sendable {
        let consumer: ObjectIdentifier
        let loopNanos: UInt64
    }

    /// Queue length at which publishers are paused, and the length at or
    /// below which they resume.
    let highWaterMark: Int
    let lowWaterMark: Int
    private(set) var paused: [any DeliveryTarget] = []
    /// When publishers were first paused (since the queue last drained).
    private var pausingSince: UInt64?
    /// The consumers' progress count when the current pause began: equal
    /// after a whole pause means no progress. A count, so the ack path reads
    /// no clock.
    private var progressAtPause = 0
    private var clocksAtPause: [ConsumerClock] = []
    /// The consumers were found stuck: nobody is held until the queue drains.
    private(set) var suspended = false

    /// `maxQueued` is the queue's limit (`Int.max`: none).
    init(maxQueued: Int) {
        highWaterMark = max(1, maxQueued - maxQueued / 4)  // 3/4, without overflow for "no limit"
        lowWaterMark = maxQueued / 4
    }

    /// A publisher's message was queued and the queue now holds `depth`
    /// with `progress` the consumers' progress count. Returns whether the
    /// publisher must pause (it is then registered here), and publishers to
    /// resume (the consumers were just found stuck). `clocks` gives the
    /// online consumers' loop clocks; it is called only when a pause begins
    /// or has lasted `maxPauseNanos`, never per message.
    mutating func admitted(
        depth: Int, publisher: any DeliveryTarget, progress: Int, clocks: () -> [ConsumerClock]
    ) -> (pause: Bool, resume: [any DeliveryTarget]) {
        guard depth >= highWaterMark, !suspended else { return (false, []) }
        let now = Clock.nowNanos()
        if let since = pausingSince, now &- since >= Self.maxPauseNanos {
            if progress != progressAtPause {
                begin(at: now, progress: progress, clocks: clocks())  // slow but moving: keep pacing
            } else if Self.hadTime(since: clocksAtPause, now: clocks()) {
                suspended = true
                return (false, takePaused())
            }
            // Else a consumer's loop was held up: not its fault, keep waiting.
        }
        if pausingSince == nil { begin(at: now, progress: progress, clocks: clocks()) }
        if !paused.contains(where: { $0 === publisher }) { paused.append(publisher) }
        return (true, [])
    }

    /// The queue holds `depth` after its consumers took from it: at or
    /// below the low-water mark, flow control starts afresh and the paused
    /// publishers are returned to be resumed.
    mutating func drained(depth: Int) -> [any DeliveryTarget] {
        guard depth <= lowWaterMark, pausingSince != nil || suspended || !paused.isEmpty else { return [] }
        return reset()
    }

    /// Starts afresh (the queue drained or went offline): returns the paused
    /// publishers, to be resumed.
    mutating func reset() -> [any DeliveryTarget] {
        restartClock()
        return takePaused()
    }

    /// Judges the consumers afresh, the paused publishers still waiting (a
    /// new consumer connection: its loop clock means nothing against the
    /// previous one's).
    mutating func restartClock() {
        pausingSince = nil
        suspended = false
        clocksAtPause.removeAll()
    }

    private mutating func begin(at now: UInt64, progress: Int, clocks: [ConsumerClock]) {
        pausingSince = now
        progressAtPause = progress
        clocksAtPause = clocks
    }

    private mutating func takePaused() -> [any DeliveryTarget] {
        defer { paused.removeAll() }
        return paused
    }

    /// True when every consumer online now was online when the pause began
    /// and its loop has run `maxPauseNanos` since. A consumer that came (or
    /// came back) since is not judged yet.
    private static func hadTime(since start: [ConsumerClock], now: [ConsumerClock]) -> Bool {
        guard !now.isEmpty else { return false }
        return now.allSatisfy { current in
            guard let then = start.first(where: { $0.consumer == current.consumer }) else { return false }
            return current.loopNanos &- then.loopNanos >= maxPauseNanos
        }
    }
}
