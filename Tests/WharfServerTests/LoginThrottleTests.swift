import Testing
import WharfServer

@Suite struct LoginThrottleTests {
    static let second: UInt64 = 1_000_000_000
    static let t0: UInt64 = 1_000 * second

    /// 100 ms for the first failure, doubling, capped at 5 s.
    @Test func delaysDoubleUpToTheCap() {
        var throttle = LoginThrottle()
        let delays = (0..<9).map { i in throttle.failed(address: "10.0.0.1", now: Self.t0 + UInt64(i) * Self.second) }
        let expected: [Duration] = [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5),
        ]
        #expect(delays == expected)
        #expect(throttle.delay(afterFailures: 0) == .zero)
        #expect(throttle.delay(afterFailures: 1_000_000) == .seconds(5))
        #expect(throttle.delay(afterFailures: .max) == .seconds(5))
    }

    /// One address's failures never slow another's.
    @Test func otherAddressesAreNotSlowed() {
        var throttle = LoginThrottle()
        for i in 0..<20 { _ = throttle.failed(address: "10.0.0.1", now: Self.t0 + UInt64(i)) }
        #expect(throttle.failed(address: "10.0.0.2", now: Self.t0 + 20) == .milliseconds(100))
        #expect(throttle.failed(address: "10.0.0.1", now: Self.t0 + 21) == .seconds(5))
        #expect(throttle.trackedAddresses == 2)
    }

    /// 60 s without a failure forgives; a failure within the 60 s keeps the streak going.
    @Test func quietPeriodForgives() {
        var throttle = LoginThrottle()
        #expect(throttle.failed(address: "a", now: Self.t0) == .milliseconds(100))
        #expect(throttle.failed(address: "a", now: Self.t0 + 59 * Self.second) == .milliseconds(200))
        #expect(throttle.failed(address: "a", now: Self.t0 + 118 * Self.second) == .milliseconds(400))
        #expect(throttle.failed(address: "a", now: Self.t0 + 178 * Self.second) == .milliseconds(100))
        // Forgotten addresses also leave the table, when any failure comes in.
        _ = throttle.failed(address: "b", now: Self.t0 + 179 * Self.second)
        #expect(throttle.trackedAddresses == 2)
        _ = throttle.failed(address: "c", now: Self.t0 + 300 * Self.second)
        #expect(throttle.trackedAddresses == 1)
    }

    /// A successful login forgives its address at once, and only that one.
    @Test func successForgives() {
        var throttle = LoginThrottle()
        for i in 0..<5 {
            _ = throttle.failed(address: "a", now: Self.t0 + UInt64(i))
            _ = throttle.failed(address: "b", now: Self.t0 + UInt64(i))
        }
        throttle.succeeded(address: "a")
        throttle.succeeded(address: "never-failed")
        #expect(throttle.trackedAddresses == 1)
        #expect(throttle.failed(address: "a", now: Self.t0 + 10) == .milliseconds(100))
        #expect(throttle.failed(address: "b", now: Self.t0 + 10) == .milliseconds(3200))
    }

    /// At most `maximumAddresses` are tracked; the one whose last failure is oldest goes first.
    @Test func boundedOldestEvicted() {
        var throttle = LoginThrottle(policy: .init(maximumAddresses: 3))
        _ = throttle.failed(address: "a", now: Self.t0 + 1)
        _ = throttle.failed(address: "b", now: Self.t0 + 2)
        _ = throttle.failed(address: "a", now: Self.t0 + 3)  // a is now more recent than b
        _ = throttle.failed(address: "c", now: Self.t0 + 4)
        _ = throttle.failed(address: "d", now: Self.t0 + 5)  // evicts b
        #expect(throttle.trackedAddresses == 3)
        #expect(throttle.failed(address: "a", now: Self.t0 + 6) == .milliseconds(400))
        #expect(throttle.failed(address: "b", now: Self.t0 + 7) == .milliseconds(100))  // evicts c
        #expect(throttle.failed(address: "d", now: Self.t0 + 8) == .milliseconds(200))
        #expect(throttle.failed(address: "c", now: Self.t0 + 9) == .milliseconds(100))
        #expect(throttle.trackedAddresses == 3)
    }

    /// One address hammering away does not push others out of the table:
    /// only new addresses evict.
    @Test func hammeringDoesNotEvictOthers() {
        var throttle = LoginThrottle(policy: .init(maximumAddresses: 2))
        _ = throttle.failed(address: "quiet", now: Self.t0)
        for i in 1...10_000 { _ = throttle.failed(address: "loud", now: Self.t0 + UInt64(i)) }
        #expect(throttle.trackedAddresses == 2)
        #expect(throttle.failed(address: "quiet", now: Self.t0 + 20_000) == .milliseconds(200))
    }

    /// Spraying from many addresses keeps the table at its bound.
    @Test func sprayStaysBounded() {
        var throttle = LoginThrottle(policy: .init(maximumAddresses: 100))
        for i in 0..<10_000 { _ = throttle.failed(address: "10.1.\(i / 256).\(i % 256)", now: Self.t0 + UInt64(i)) }
        #expect(throttle.trackedAddresses == 100)
        #expect(throttle.failed(address: "10.1.39.15", now: Self.t0 + 10_000) == .milliseconds(200))  // the last one sprayed
    }

    /// A clock that steps back (another thread's reading) neither traps nor forgives.
    @Test func clockSteppingBack() {
        var throttle = LoginThrottle()
        _ = throttle.failed(address: "a", now: Self.t0)
        #expect(throttle.failed(address: "a", now: Self.t0 - Self.second) == .milliseconds(200))
        #expect(throttle.failed(address: "a", now: 0) == .milliseconds(400))
    }

    /// Other numbers can be chosen; the cap holds even when it is not a doubling of the first delay.
    @Test func customPolicy() {
        var throttle = LoginThrottle(
            policy: .init(firstDelay: .milliseconds(300), maximumDelay: .seconds(1), forgiveAfter: .seconds(5), maximumAddresses: 10))
        let delays = (0..<4).map { i in throttle.failed(address: "a", now: Self.t0 + UInt64(i) * Self.second) }
        #expect(delays == [.milliseconds(300), .milliseconds(600), .seconds(1), .seconds(1)])
        #expect(throttle.failed(address: "a", now: Self.t0 + 9 * Self.second) == .milliseconds(300))
        // No forgiveness period (or a negative one): every failure is a first one.
        for forgiveAfter in [Duration.zero, .milliseconds(-1500)] {
            var forgiving = LoginThrottle(policy: .init(forgiveAfter: forgiveAfter))
            #expect(forgiving.failed(address: "a", now: Self.t0) == .milliseconds(100))
            #expect(forgiving.failed(address: "a", now: Self.t0) == .milliseconds(100))
        }
        // A zero first delay stays zero, however many failures.
        #expect(LoginThrottle(policy: .init(firstDelay: .zero)).delay(afterFailures: .max) == .zero)
    }

    /// The shared throttle counts failures from every thread together.
    @Test func sharedAcrossThreads() async {
        let shared = SharedLoginThrottle()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<100 {
                        _ = shared.failed(address: "spray-\(task)-\(i)", now: Self.t0)
                        _ = shared.failed(address: "common", now: Self.t0)
                    }
                }
            }
        }
        #expect(shared.trackedAddresses == 801)
        #expect(shared.failed(address: "common", now: Self.t0) == .seconds(5))
        shared.succeeded(address: "common")
        #expect(shared.failed(address: "common", now: Self.t0) == .milliseconds(100))
    }
}
