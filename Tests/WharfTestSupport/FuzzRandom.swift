// Shared by the test targets: a seeded generator for the fuzz and property
// tests, so a failing seed replays the same case on any machine.

/// SplitMix64: tiny, fast, and the same sequence on every platform and
/// toolchain (the standard library's `random(in:using:)` is not promised to
/// be), so a seed reproduces a run exactly.
public struct FuzzRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform enough for fuzzing (modulo bias is irrelevant here).
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next() % span)
    }

    /// True one time in `n`.
    public mutating func oneIn(_ n: Int) -> Bool { next() % UInt64(max(1, n)) == 0 }

    public mutating func bool() -> Bool { next() & 1 == 1 }

    public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// `count` random bytes, eight per draw.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = next()
            for _ in 0..<min(8, count - index) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    /// A length skewed towards small values, now and then up to `max`:
    /// most fuzz cases stay cheap, a few hit the big limits.
    public mutating func length(upTo max: Int) -> Int {
        switch int(0...9) {
        case 0...5: return int(0...min(max, 16))
        case 6...7: return int(0...min(max, 300))
        case 8: return int(0...min(max, 4_096))
        default: return int(0...max)
        }
    }

    /// The seed of the next sub-run: iteration `i` of a run can be replayed alone.
    public mutating func childSeed() -> UInt64 { next() }
}
