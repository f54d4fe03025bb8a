/// Equality of secrets (or their digests) in time that depends only on their
/// length, not on where they first differ: an early exit would tell a
/// guesser, byte by byte, how much of a guess was right.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
