import Crypto
import NIOCore
import Synchronization

/// Checks HTTP basic credentials against a Mosquitto password file for the
/// metrics listener.
///
/// The file's hashes are slow on purpose (PBKDF2), and the check runs on the
/// metrics listener's single event loop. A scraper sends the same user and
/// password every few seconds, so the password last verified for each user
/// is remembered, as a keyed digest, and matched cheaply: a scraper every 15 s
/// costs one PBKDF2 per password change (or reload), not one per scrape.
/// Anything not remembered (a new password, a guess) needs a slow check, and
/// those are held to `slowChecksPerSecond` across all clients; past it a
/// request is refused unchecked, so a flood of guesses cannot pin the loop
/// (while remembered credentials still get through).
public final class BasicAuthVerifier: Sendable {
    private struct State {
        var passwords: PasswordFile
        /// Bumped when the file is replaced: a check that began against the
        /// old file must not be remembered for the new one.
        var generation = 0
        /// Per user, the keyed digest of the password last verified.
        var verified: [String: [UInt8]] = [:]
        var budget: TokenBucket
        var slowChecks = 0
    }

    private enum Decision {
        case remembered
        case overBudget
        case check(PasswordFile, generation: Int)
    }

    /// Enough for a handful of scrapers with changed passwords at once;
    /// little CPU even at hundreds of thousands of rounds.
    public static let defaultSlowChecksPerSecond = 10.0

    private let state: Mutex<State>
    /// Random per process, so a memory dump shows digests nobody can test
    /// guesses against offline faster than against the file itself.
    /// (Kept as bytes: `SymmetricKey` is not `Sendable`.)
    private let digestKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }

    public init(passwords: PasswordFile, slowChecksPerSecond: Double = defaultSlowChecksPerSecond, now: UInt64 = BasicAuthVerifier.now()) {
        let budget = TokenBucket(rate: slowChecksPerSecond, capacity: max(1, slowChecksPerSecond), now: now)
        state = Mutex(State(passwords: passwords, budget: budget))
    }

    /// Slow (PBKDF2 or SHA-512) checks made so far.
    public var slowChecks: Int { state.withLock { $0.slowChecks } }

    /// A re-read file: what was remembered is forgotten, since a password
    /// may have changed or a user gone.
    public func replace(_ passwords: PasswordFile) {
        state.withLock { state in
            state.passwords = passwords
            state.generation += 1
            state.verified = [:]
        }
    }

    /// True when `user` is in the file and `password` is theirs.
    public func verify(user: String, password: [UInt8], now: UInt64 = BasicAuthVerifier.now()) -> Bool {
        let digest = Array(HMAC<SHA256>.authenticationCode(for: password, using: SymmetricKey(data: digestKey)))
        let decision: Decision = state.withLock { state in
            if let known = state.verified[user], constantTimeEqual(known, digest) { return .remembered }
            guard state.budget.tryTake(now: now) else { return .overBudget }
            state.slowChecks += 1
            return .check(state.passwords, generation: state.generation)
        }
        switch decision {
        case .remembered:
            return true
        case .overBudget:
            return false
        case .check(let passwords, let generation):
            // Outside the lock: a reload (from the signal task) need not wait for it.
            guard passwords.verify(user: user, password: password) else { return false }
            state.withLock { state in
                if state.generation == generation { state.verified[user] = digest }
            }
            return true
        }
    }

    /// Nanoseconds on a monotonic clock, as `TokenBucket` counts them.
    public static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
