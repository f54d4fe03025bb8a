import DequeModule
import Synchronization
import WharfCore

/// How long to wait before answering a failed login, per source address,
/// so guessing passwords is slow while everyone else is never slowed.
///
/// With the default policy an address's first failure is answered after
/// 100 ms, and each further one after twice the last: 0.1, 0.2, 0.4, 0.8,
/// 1.6, 3.2 s, then 5 s for every one after that. At the cap one connection
/// can try 12 passwords a minute, against thousands unthrottled (a `$7$`
/// check of 101 rounds takes well under a millisecond). A person who mistypes
/// once waits a tenth of a second. An address is forgiven after 60 s
/// without a failure, or at once when it logs in.
///
/// Parallel connections from one address each wait, and each lengthens the
/// address's streak, but the delay alone does not limit how many guesses
/// are in flight at once: the connection limit does.
///
/// Memory is bounded: at most `maximumAddresses` are tracked, and when a new
/// one arrives the one whose last failure is oldest is forgotten. So someone
/// spraying from many addresses costs a bounded table, and at worst earns
/// one of their addresses a fresh start.
///
/// A value type driven by the caller's clock (`now` in nanoseconds, any
/// monotonic origin), so tests step time instead of sleeping;
/// `SharedLoginThrottle` is the locked one the event loops share.
public struct LoginThrottle: Sendable {
    public struct Policy: Sendable, Equatable {
        /// The delay before answering an address's first failure.
        public var firstDelay: Duration
        /// The longest delay: long enough to make guessing slow, short
        /// enough that a client's connect timeout (often 10-30 s) is not hit.
        public var maximumDelay: Duration
        /// Failures older than this are forgiven.
        public var forgiveAfter: Duration
        /// Addresses tracked at most; a few hundred bytes each, so the
        /// default bounds the table at a few megabytes.
        public var maximumAddresses: Int

        public init(
            firstDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5), forgiveAfter: Duration = .seconds(60),
            maximumAddresses: Int = 10_000
        ) {
            self.firstDelay = firstDelay
            self.maximumDelay = maximumDelay
            self.forgiveAfter = forgiveAfter
            self.maximumAddresses = max(1, maximumAddresses)
        }
    }

    private struct Entry: Sendable {
        /// Failures in a row, none more than `forgiveAfter` apart.
        var failures: Int
        var lastFailure: UInt64
        /// Which record in `order` is this entry's latest.
        var sequence: UInt64
    }

    public let policy: Policy
    private var entries: [String: Entry] = [:]
    /// One record per failure, oldest first, so forgetting the oldest
    /// address costs O(1) rather than a scan. Records made stale by the
    /// address's later failure (or a success) are skipped when popped, and
    /// dropped all at once when there are twice `maximumAddresses` records.
    private var order = Deque<(address: String, sequence: UInt64)>()
    private var nextSequence: UInt64 = 0
    private let forgiveNanos: UInt64

    public init(policy: Policy = Policy()) {
        self.policy = policy
        self.forgiveNanos = Self.nanoseconds(policy.forgiveAfter)
    }

    /// Addresses currently tracked.
    public var trackedAddresses: Int { entries.count }

    /// Records a failed login from `address` at `now` and returns how long
    /// to wait before answering it. `address` is the client's IP address
    /// without the port: each new connection comes from a new port.
    public mutating func failed(address: String, now: UInt64) -> Duration {
        forgetQuiet(now: now)
        var entry = entries[address] ?? Entry(failures: 0, lastFailure: now, sequence: 0)
        if now >= entry.lastFailure, now - entry.lastFailure >= forgiveNanos { entry.failures = 0 }
        entry.failures += 1
        entry.lastFailure = max(entry.lastFailure, now)
        entry.sequence = nextSequence
        nextSequence += 1
        entries[address] = entry
        order.append((address, entry.sequence))
        while entries.count > policy.maximumAddresses, let oldest = order.popFirst() {
            if entries[oldest.address]?.sequence == oldest.sequence { entries.removeValue(forKey: oldest.address) }
        }
        if order.count > 2 * policy.maximumAddresses { dropStaleRecords() }
        return delay(afterFailures: entry.failures)
    }

    /// Forgives `address`: a client that knows the password is not guessing.
    public mutating func succeeded(address: String) {
        entries.removeValue(forKey: address)
    }

    /// The delay for the `failures`-th failure in a row: `firstDelay`
    /// doubled for each failure before it, at most `maximumDelay`.
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var delay = policy.firstDelay
        // At most 64 doublings: a zero first delay never reaches the cap.
        for _ in 1..<min(failures, 64) {
            if delay >= policy.maximumDelay { break }
            delay *= 2
        }
        return min(delay, policy.maximumDelay)
    }

    /// Forgets addresses whose last failure is older than `forgiveAfter`,
    /// from the front of `order` (failures arrive in time order).
    private mutating func forgetQuiet(now: UInt64) {
        while let oldest = order.first {
            if let entry = entries[oldest.address], entry.sequence == oldest.sequence {
                guard now >= entry.lastFailure, now - entry.lastFailure >= forgiveNanos else { return }
                entries.removeValue(forKey: oldest.address)
            }
            order.removeFirst()
        }
    }

    private mutating func dropStaleRecords() {
        let entries = self.entries
        order = Deque(order.filter { entries[$0.address]?.sequence == $0.sequence })
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000)).partialValue
    }
}

/// The one `LoginThrottle` all event loops share: an address's failures
/// count together whichever loop its connections land on.
public final class SharedLoginThrottle: Sendable {
    private let throttle: Mutex<LoginThrottle>

    public init(policy: LoginThrottle.Policy = LoginThrottle.Policy()) {
        self.throttle = Mutex(LoginThrottle(policy: policy))
    }

    /// Records a failed login; answer the refusal after the returned delay.
    /// `now` is `Clock.nowNanos()`'s monotonic time, as the broker's other timers use.
    public func failed(address: String, now: UInt64 = Clock.nowNanos()) -> Duration {
        throttle.withLock { $0.failed(address: address, now: now) }
    }

    /// Forgives `address` after a successful login.
    public func succeeded(address: String) {
        throttle.withLock { $0.succeeded(address: address) }
    }

    /// Addresses currently tracked.
    public var trackedAddresses: Int { throttle.withLock { $0.trackedAddresses } }
}
