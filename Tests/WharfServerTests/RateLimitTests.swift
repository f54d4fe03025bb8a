import Testing

@testable import WharfServer

/// The per-client publish rate and the per-address caps, on a clock the
/// tests move by hand.
@Suite struct RateLimitTests {
    static let second: UInt64 = 1_000_000_000

    @Test func aBucketStartsFullAndRefillsAtItsRate() {
        var bucket = TokenBucket(rate: 10, capacity: 10, now: 0)
        var taken = 0
        while bucket.tryTake(now: 0) { taken += 1 }
        #expect(taken == 10)
        #expect(bucket.nanosUntil(1) == Self.second / 10)
        let refilled = bucket.tryTake(now: Self.second / 10)
        #expect(refilled)
        bucket.refill(now: 100 * Self.second)
        #expect(bucket.isFull && bucket.tokens == 10, "never more than its capacity")
    }

    @Test func publishesWithinTheRateGoAtOnceThenWait() throws {
        var limit = try #require(PublishRateLimit(messagesPerSecond: 100, bytesPerSecond: 0, now: 0))
        for _ in 0..<100 {
            let verdict = limit.admit(size: 10, mayDisconnect: true, now: 0)
            #expect(verdict == .within)
        }
        guard case .wait(let nanos) = limit.admit(size: 10, mayDisconnect: true, now: 0) else {
            Issue.record("the 101st publish in the same instant went through")
            return
        }
        #expect(nanos >= Self.second / 100, "waits at least until one message's worth has refilled")
        let verdict1 = limit.admit(size: 10, mayDisconnect: true, now: nanos)
        #expect(verdict1 == .within)
    }

    @Test func theBytesRateCountsPacketSizes() throws {
        var limit = try #require(PublishRateLimit(messagesPerSecond: 0, bytesPerSecond: 1000, now: 0))
        let verdict2 = limit.admit(size: 600, mayDisconnect: false, now: 0)
        #expect(verdict2 == .within)
        let verdict3 = limit.admit(size: 600, mayDisconnect: false, now: 0)
        #expect(verdict3 != .within)
        // A packet larger than a second's worth still goes, once the bucket is full.
        let verdict4 = limit.admit(size: 5000, mayDisconnect: false, now: 2 * Self.second)
        #expect(verdict4 == .within)
    }

    @Test func onlyA5ClientHeldBackWithoutABreakIsDisconnected() throws {
        for mayDisconnect in [true, false] {
            var limit = try #require(PublishRateLimit(messagesPerSecond: 1, bytesPerSecond: 0, now: 0))
            let verdict5 = limit.admit(size: 1, mayDisconnect: mayDisconnect, now: 0)
            #expect(verdict5 == .within)
            var verdicts: [PublishRateLimit.Verdict] = []
            // Asking every tenth of a second and never within the rate.
            for tick in 1...25 {
                verdicts.append(limit.admit(size: 1, mayDisconnect: mayDisconnect, now: UInt64(tick) * Self.second / 100))
            }
            #expect(verdicts.contains(.disconnect) == false, "a quarter of a second is not 'keeps exceeding'")
            var now = Self.second / 4
            var disconnected = false
            while now < 5 * Self.second, !disconnected {
                now += Self.second / 10
                let verdict = limit.admit(size: 1, mayDisconnect: mayDisconnect, now: now)
                if verdict == .disconnect { disconnected = true }
                if verdict == .within { break }
            }
            // With one message a second, it is within again after a second: a break.
            #expect(!disconnected)
        }
        // Without a break: a client whose backlog never clears.
        var limit = try #require(PublishRateLimit(messagesPerSecond: 10, bytesPerSecond: 0, now: 0))
        var now: UInt64 = 0
        var verdict = PublishRateLimit.Verdict.within
        while now < 5 * Self.second, verdict != .disconnect {
            for _ in 0..<20 {
                verdict = limit.admit(size: 1, mayDisconnect: true, now: now)
                if verdict == .disconnect { break }
            }
            now += Self.second / 10
        }
        #expect(verdict == .disconnect)
        #expect(now >= 2 * Self.second && now < 3 * Self.second, "after two seconds of being held back")
        var old = try #require(PublishRateLimit(messagesPerSecond: 10, bytesPerSecond: 0, now: 0))
        for tick in 0..<100 {
            for _ in 0..<20 {
                let verdict = old.admit(size: 1, mayDisconnect: false, now: UInt64(tick) * Self.second / 10)
                #expect(verdict != .disconnect, "a 3.1.1 client is only slowed")
            }
        }
    }

    @Test func noLimitsNoState() {
        #expect(PublishRateLimit(messagesPerSecond: 0, bytesPerSecond: 0, now: 0) == nil)
        #expect(AddressLimits(maxConnections: 0, rate: 0) == nil)
    }

    @Test func addressesAreCappedAndForgotten() throws {
        let limits = try #require(AddressLimits(maxConnections: 2, rate: 0))
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
        #expect(limits.admit("10.0.0.1", now: 0) == .tooManyConnections)
        #expect(limits.admit("10.0.0.2", now: 0) == nil, "other addresses are not affected")
        limits.closed("10.0.0.1", now: 0)
        #expect(limits.admit("10.0.0.1", now: 0) == nil)
        for address in ["10.0.0.1", "10.0.0.1", "10.0.0.2"] { limits.closed(address, now: 0) }
        #expect(limits.trackedCount == 0, "an address with nothing open is forgotten")
    }

    @Test func addressRateAndSweep() throws {
        let limits = try #require(AddressLimits(maxConnections: 0, rate: 2, sweepThreshold: 3))
        #expect(limits.admit("a", now: 0) == nil)
        #expect(limits.admit("a", now: 0) == nil)
        #expect(limits.admit("a", now: 0) == .rateExceeded)
        #expect(limits.admit("a", now: Self.second / 2) == nil, "refilled at 2 a second")
        for address in ["b", "c", "d"] {
            #expect(limits.admit(address, now: 0) == nil)
            limits.closed(address, now: 0)
        }
        #expect(limits.trackedCount == 4, "closed addresses with a bucket not yet full are remembered")
        _ = limits.admit("e", now: 10 * Self.second)
        #expect(limits.trackedCount == 2, "past the threshold, forgotten addresses are swept: a (open) and e remain")
    }
}
