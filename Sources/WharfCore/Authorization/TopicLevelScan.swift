/// Finds a topic level's end and hashes it in one pass, eight bytes at a
/// time: the ACL check runs on every PUBLISH and every delivery, and a byte
/// loop doing a multiply per byte cost about as much as all the rest of it.
///
/// The hash is over 8-byte little-endian chunks counted from the level's
/// start, the last one zero-padded, so the builder (hashing a whole filter
/// level) and the check (hashing a level inside a topic) agree however the
/// bytes were loaded.
enum TopicLevelScan {
    static let seed: UInt64 = 0x243F_6A88_85A3_08D3

    /// The end of the level starting at `start` (the next '/' or `count`)
    /// and its hash. Never reads outside `bytes[0..<count]`.
    @inline(__always)
    static func level(in bytes: UnsafePointer<UInt8>, from start: Int, count: Int) -> (end: Int, hash: UInt64) {
        var hash = seed
        var position = start
        while position &+ 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self))
            // SWAR: the high bit of each byte of `found` is set where `word`
            // has a '/' (and perhaps above it; the lowest one is exact).
            let spread = word ^ 0x2F2F_2F2F_2F2F_2F2F
            let found = (spread &- 0x0101_0101_0101_0101) & ~spread & 0x8080_8080_8080_8080
            if found != 0 {
                let length = found.trailingZeroBitCount >> 3
                if length > 0 { hash = mix(hash, word & (UInt64.max >> (64 - 8 * length))) }
                return (position &+ length, hash)
            }
            hash = mix(hash, word)
            position &+= 8
        }
        var chunk: UInt64 = 0
        var shift: UInt64 = 0
        while position < count, bytes[position] != UInt8(ascii: "/") {
            chunk |= UInt64(bytes[position]) << shift
            shift &+= 8
            position &+= 1
        }
        if shift > 0 { hash = mix(hash, chunk) }
        return (position, hash)
    }

    /// The end of the level starting at `start`, without hashing it: for a
    /// level no literal child is looked up by.
    @inline(__always)
    static func levelEnd(in bytes: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var position = start
        while position &+ 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self))
            let spread = word ^ 0x2F2F_2F2F_2F2F_2F2F
            let found = (spread &- 0x0101_0101_0101_0101) & ~spread & 0x8080_8080_8080_8080
            if found != 0 { return position &+ found.trailingZeroBitCount >> 3 }
            position &+= 8
        }
        while position < count, bytes[position] != UInt8(ascii: "/") { position &+= 1 }
        return position
    }

    @inline(__always)
    static func mix(_ hash: UInt64, _ chunk: UInt64) -> UInt64 {
        let mixed = (hash ^ chunk) &* 0x9E37_79B9_7F4A_7C15
        return mixed ^ (mixed >> 29)
    }

    /// Whether `count` bytes at `lhs` and `rhs` are equal, a word at a time;
    /// the last word overlaps the one before rather than going byte by byte.
    @inline(__always)
    static func equal(_ lhs: UnsafePointer<UInt8>, _ rhs: UnsafePointer<UInt8>, count: Int) -> Bool {
        if count >= 8 {
            var offset = 0
            while offset &+ 8 < count {
                guard load64(lhs + offset) == load64(rhs + offset) else { return false }
                offset &+= 8
            }
            return load64(lhs + (count &- 8)) == load64(rhs + (count &- 8))
        }
        if count >= 4 {
            return load32(lhs) == load32(rhs) && load32(lhs + (count &- 4)) == load32(rhs + (count &- 4))
        }
        var offset = 0
        while offset < count {
            guard lhs[offset] == rhs[offset] else { return false }
            offset &+= 1
        }
        return true
    }

    @inline(__always)
    private static func load64(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self)
    }

    @inline(__always)
    private static func load32(_ pointer: UnsafePointer<UInt8>) -> UInt32 {
        UnsafeRawPointer(pointer).loadUnaligned(as: UInt32.self)
    }
}
