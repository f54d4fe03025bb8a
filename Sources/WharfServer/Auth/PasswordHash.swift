import Crypto
import Foundation
import _CryptoExtras

/// A new password hash in Mosquitto's `$7$` form, the one `mosquitto_passwd`
/// writes by default, so a file Wharf writes also works with `mosquitto`:
///
///     $7$101$<base64 of a 12-byte salt>$<base64 of 64 bytes of PBKDF2-HMAC-SHA512>
///
/// The numbers are Mosquitto 2.0's (`PW_DEFAULT_ITERATIONS` and `SALT_LEN` in
/// its `password_mosq.h`): the Mosquitto a distribution ships decodes exactly
/// these, and `PasswordFile` verifies them.
public struct PasswordHash: Sendable, Equatable {
    /// Mosquitto 2.0's default round count. Low by today's standards, but a
    /// larger count makes every CONNECT slower for a broker that hashes on its
    /// event loop; `LoginThrottle` is what slows down guessing.
    public static let defaultIterations = 101
    /// Mosquitto 2.0's salt length; its broker accepts no other for `$7$`.
    public static let saltByteCount = 12
    /// The whole SHA-512 output, as Mosquitto writes and expects it.
    public static let hashByteCount = 64

    public let iterations: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// Hashes `password` with the given salt: deterministic, for tests and
    /// for comparing with hashes made elsewhere.
    public init(password: [UInt8], salt: [UInt8], iterations: Int = PasswordHash.defaultIterations) {
        self.iterations = iterations
        self.salt = salt
        // PBKDF2 with a positive round count and 64 output bytes cannot fail;
        // the unchecked variant because the checked one insists on 210,000 rounds.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: password, salt: salt, using: .sha512, outputByteCount: Self.hashByteCount,
            unsafeUncheckedRounds: max(1, iterations)
        )
        self.hash = key.withUnsafeBytes { Array($0) }
    }

    /// Hashes `password` with a fresh random salt. `SystemRandomNumberGenerator`
    /// is the operating system's cryptographic generator (getrandom(2) on
    /// Linux), which a salt needs: predictable salts allow precomputed tables.
    public init(password: [UInt8], iterations: Int = PasswordHash.defaultIterations) {
        var generator = SystemRandomNumberGenerator()
        self.init(password: password, iterations: iterations, using: &generator)
    }

    /// Hashes `password` with a salt drawn from `generator`.
    public init(password: [UInt8], iterations: Int = PasswordHash.defaultIterations, using generator: inout some RandomNumberGenerator) {
        let salt = (0..<Self.saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        self.init(password: password, salt: salt, iterations: iterations)
    }

    /// The text after `user:` on a password-file line.
    public var encoded: String {
        "$7$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }
}
