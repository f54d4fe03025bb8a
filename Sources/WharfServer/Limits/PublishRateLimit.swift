/// `[limits] max_publish_rate` and `max_publish_bytes_rate` for one client:
/// a bucket each, holding a second's worth. A PUBLISH is routed (and
/// acknowledged) only when its buckets hold enough; otherwise the client
/// waits: the connection stops reading and its PUBLISH packets wait in
/// order until the buckets have refilled, so TCP slows the client to the
/// rate and nothing is lost. A 5.0 client that is held back without a
/// break for `tolerance` gets DISCONNECT 0x96 (message rate too high), the
/// reason code 5.0 made for this; a 3.1.1 client, which has no such code,
/// is only ever slowed.
struct PublishRateLimit: Sendable, Equatable {
    enum Verdict: Equatable {
        case within
        /// Wait this long, then ask again.
        case wait(nanos: UInt64)
        case disconnect
    }

    /// Held back this long without a break: "keeps exceeding".
    static let tolerance: UInt64 = 2_000_000_000
    /// Waits less than this apart belong to one unbroken stretch.
    static let breakBetween: UInt64 = 1_000_000_000

    private var messages: TokenBucket?
    private var bytes: TokenBucket?
    /// When the current stretch of waiting began, and when it last waited.
    private var heldSince: UInt64?
    private var lastWait: UInt64 = 0

    /// nil when neither limit is set.
    init?(messagesPerSecond: Double, bytesPerSecond: Double, now: UInt64) {
        guard messagesPerSecond > 0 || bytesPerSecond > 0 else { return nil }
        if messagesPerSecond > 0 { messages = TokenBucket(rate: messagesPerSecond, capacity: max(1, messagesPerSecond), now: now) }
        if bytesPerSecond > 0 { bytes = TokenBucket(rate: bytesPerSecond, capacity: bytesPerSecond, now: now) }
    }

    /// May a PUBLISH of `size` bytes be routed now? It is charged if so.
    mutating func admit(size: Int, mayDisconnect: Bool, now: UInt64) -> Verdict {
        messages?.refill(now: now)
        bytes?.refill(now: now)
        // A packet larger than a second's worth of bytes goes when the bucket is full.
        let byteCost = bytes.map { min(Double(size), $0.capacity) } ?? 0
        let wait = max(messages?.nanosUntil(1) ?? 0, bytes?.nanosUntil(byteCost) ?? 0)
        guard wait > 0 else {
            _ = messages?.take(1, now: now)
            _ = bytes?.take(Double(size), now: now)
            return .within
        }
        if heldSince == nil || now &- lastWait > Self.breakBetween { heldSince = now }
        lastWait = now
        if mayDisconnect, let since = heldSince, now &- since >= Self.tolerance { return .disconnect }
        // Waits of at least a tenth of a second: one timer per batch, not per message.
        return .wait(nanos: max(wait, 100_000_000))
    }
}

extension TokenBucket {
    /// Nanoseconds until the bucket holds `amount`; 0 if it does.
    func nanosUntil(_ amount: Double) -> UInt64 {
        tokens >= amount ? 0 : UInt64(((amount - tokens) / rate * 1e9).rounded(.up))
    }
}
