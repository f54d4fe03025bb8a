#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A string compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality uses Unicode canonical equivalence: "é" as one
/// scalar equals "e" plus a combining accent. MQTT forbids any normalisation
/// when matching topics (3.1.1 section 4.7.3), and client ids are byte strings
/// too, so every key the broker looks up by topic, filter or client id is one
/// of these.
public struct ExactString: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        sameUTF8(lhs.string, rhs.string)
    }

    public func hash(into hasher: inout Hasher) {
        // On the String's own view: going through a Substring view (as
        // `TopicLevel` must) costs several times as much per call.
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { for byte in string.utf8 { hasher.combine(byte) } }
        hasher.combine(string.utf8.count)
    }

    public var description: String { string }
}

/// One topic level as a byte slice of the topic or filter it came from: no
/// allocation to look one up, and byte equality (see `ExactString`).
struct TopicLevel: Hashable, @unchecked Sendable {  // an immutable view into an immutable String
    let bytes: Substring.UTF8View

    static func == (lhs: TopicLevel, rhs: TopicLevel) -> Bool {
        utf8Equal(lhs.bytes, rhs.bytes)
    }

    func hash(into hasher: inout Hasher) {
        hashUTF8(bytes, into: &hasher)
    }

    static let singleLevelWildcard = TopicLevel(bytes: "+".utf8[...])
    static let multiLevelWildcard = TopicLevel(bytes: "#".utf8[...])

    var isWildcard: Bool { self == .singleLevelWildcard || self == .multiLevelWildcard }
}

/// Byte equality, by memcmp where both sides are contiguous (native
/// strings are): a hash lookup on the publish path compares keys this way.
@inline(__always)
private func utf8Equal(_ lhs: Substring.UTF8View, _ rhs: Substring.UTF8View) -> Bool {
    let compared: Bool?? = lhs.withContiguousStorageIfAvailable { left in
        rhs.withContiguousStorageIfAvailable { right in
            left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
        }
    }
    if let compared = compared ?? nil { return compared }
    return lhs.elementsEqual(rhs)
}

/// Byte equality of two whole strings, by memcmp on their own UTF-8 views:
/// ~40 instructions for a short topic, where the Substring views of
/// `utf8Equal` took ~500 (one such compare a message was 4% of a QoS 0 publish).
///
/// Two strings with the same 16 bytes of representation are the same string
/// (one storage object, or the same small inline string): the parser hands a
/// repeated topic back as the very string it made before, so this first test
/// usually decides.
@inline(__always)
public func sameUTF8(_ lhs: String, _ rhs: String) -> Bool {
    if sameRepresentation(lhs, rhs) { return true }
    let compared: Bool?? = lhs.utf8.withContiguousStorageIfAvailable { left in
        rhs.utf8.withContiguousStorageIfAvailable { right in
            left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
        }
    }
    if let compared = compared ?? nil { return compared }
    return lhs.utf8.elementsEqual(rhs.utf8)
}

@inline(__always)
func sameRepresentation(_ lhs: String, _ rhs: String) -> Bool {
    // A bit copy of the two words (no retain): equal words, same string.
    let left = unsafeBitCast(lhs, to: (UInt64, UInt64).self)
    let right = unsafeBitCast(rhs, to: (UInt64, UInt64).self)
    return left == right
}

private func hashUTF8(_ bytes: Substring.UTF8View, into hasher: inout Hasher) {
    let hashedContiguously: Void? = bytes.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    if hashedContiguously == nil {
        for byte in bytes { hasher.combine(byte) }
    }
    hasher.combine(bytes.count)
}

extension String {
    /// Number of levels: separators + 1, counted on bytes.
    public var topicLevelCount: Int {
        // On the contiguous bytes where there are some (native strings): the
        // generic `reduce` over the UTF-8 view cost ~60 instructions a byte.
        let counted: Int? = utf8.withContiguousStorageIfAvailable { bytes in
            var levels = 1
            for byte in bytes where byte == UInt8(ascii: "/") { levels &+= 1 }
            return levels
        }
        return counted ?? utf8.reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 }
    }

    /// The levels of a topic or filter, split on the byte '/' (never on
    /// grapheme clusters: "/" followed by a combining mark still separates).
    var topicLevels: [TopicLevel] {
        var levels: [TopicLevel] = []
        var start = utf8.startIndex
        while true {
            let slash = utf8[start...].firstIndex(of: UInt8(ascii: "/"))
            levels.append(TopicLevel(bytes: utf8[start..<(slash ?? utf8.endIndex)]))
            guard let slash else { return levels }
            start = utf8.index(after: slash)
        }
    }
}
