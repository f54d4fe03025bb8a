/// A token bucket: `rate` tokens a second, at most `capacity` saved up.
/// Taking more than there is leaves it in debt, which the rate pays off;
/// the debt is how long the taker should wait. Time is passed in
/// (nanoseconds on any monotonic clock), so it is a plain value to test.
struct TokenBucket: Sendable, Equatable {
    let rate: Double
    let capacity: Double
    private(set) var tokens: Double
    private var last: UInt64

    /// Starts full: a new client may use its burst at once.
    init(rate: Double, capacity: Double, now: UInt64) {
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now
    }

    /// Adds what the time since the last call earned.
    mutating func refill(now: UInt64) {
        guard now > last else { return }
        tokens = min(capacity, tokens + Double(now - last) / 1e9 * rate)
        last = now
    }

    /// Takes `amount` (going into debt if need be); returns the nanoseconds
    /// until the bucket is out of debt again, 0 if it is not in debt.
    mutating func take(_ amount: Double, now: UInt64) -> UInt64 {
        refill(now: now)
        tokens -= amount
        return debtNanos
    }

    /// Takes one token if there is one; false (and nothing taken) if not.
    mutating func tryTake(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    var debtNanos: UInt64 { tokens >= 0 ? 0 : UInt64((-tokens / rate * 1e9).rounded(.up)) }

    /// Full again: nothing to remember about whoever used it.
    var isFull: Bool { tokens >= capacity }
}
