/// `[limits] max_publish_rate` and `max_publish_bytes_rate` for one client:
/// a bucket each, with a second's worth of burst. What a client gets when
/// it goes past them:
/// - `throttle`: stop reading its socket until its buckets are out of debt,
///   so TCP slows it down (every 3.1.1 client; a 5.0 client the first times);
/// - `disconnect`: a 5.0 client that keeps exceeding the rate (a third time
///   within `window` of the last) gets DISCONNECT 0x96 (message rate too
///   high), the reason code 5.0 made for this.
struct PublishRateLimit: Sendable, Equatable {
    enum Verdict: Equatable {
        case within
        case throttle(nanos: UInt64)
        case disconnect
    }

    /// Exceeding this many times, each within `window` of the one before,
    /// counts as "keeps exceeding".
    static let strikes = 3
    static let window: UInt64 = 10_000_000_000

    private var messages: TokenBucket?
    private var bytes: TokenBucket?
    private var exceeded = 0
    private var lastExceeded: UInt64 = 0

    /// nil when neither limit is set.
    init?(messagesPerSecond: Double, bytesPerSecond: Double, now: UInt64) {
        guard messagesPerSecond > 0 || bytesPerSecond > 0 else { return nil }
        if messagesPerSecond > 0 { messages = TokenBucket(rate: messagesPerSecond, capacity: max(1, messagesPerSecond), now: now) }
        if bytesPerSecond > 0 { bytes = TokenBucket(rate: bytesPerSecond, capacity: bytesPerSecond, now: now) }
    }

    /// One PUBLISH of `size` bytes (the whole packet) arrived.
    mutating func publish(size: Int, mayDisconnect: Bool, now: UInt64) -> Verdict {
        let wait = max(messages?.take(1, now: now) ?? 0, bytes?.take(Double(size), now: now) ?? 0)
        guard wait > 0 else { return .within }
        exceeded = lastExceeded != 0 && now &- lastExceeded <= Self.window ? exceeded + 1 : 1
        lastExceeded = now
        if mayDisconnect, exceeded >= Self.strikes { return .disconnect }
        return .throttle(nanos: wait)
    }
}
