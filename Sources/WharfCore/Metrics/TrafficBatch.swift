import WharfMQTT

/// What one connection did since its last flush: packets and bytes each
/// way, and copies delivered. The connection counts into plain integers and
/// hands the batch to the metrics model once per flush, so the shared
/// counters see a few atomic adds per batch instead of several per message.
public struct TrafficBatch: Sendable {
    /// Indexed by packet type raw value (0...15), stored inline.
    public var packetsIn = PacketTypeCounts()
    public var packetsOut = PacketTypeCounts()
    public var bytesIn = 0
    public var bytesOut = 0
    /// PUBLISH packets accepted from this client (a QoS 2 resend counts once).
    public var messagesIn = 0
    public var payloadBytesIn = 0
    /// Copies written to this client, resends included.
    public var messagesOut = 0
    public var payloadBytesOut = 0
    public var redelivered = 0

    public init() {}

    public var isEmpty: Bool { bytesIn == 0 && bytesOut == 0 }

    @inline(__always)
    public mutating func received(_ type: PacketType, bytes: Int) {
        packetsIn.increment(Int(type.rawValue))
        bytesIn &+= bytes
    }

    @inline(__always)
    public mutating func sent(_ type: PacketType, bytes: Int) {
        packetsOut.increment(Int(type.rawValue))
        bytesOut &+= bytes
    }

    /// A PUBLISH accepted from this client. One call per event, so the
    /// connection's batch is accessed (and exclusivity-checked) once.
    @inline(__always)
    public mutating func published(payloadBytes: Int) {
        messagesIn &+= 1
        payloadBytesIn &+= payloadBytes
    }

    /// A copy written to this client: the PUBLISH packet and the message.
    @inline(__always)
    public mutating func delivered(packetBytes: Int, payloadBytes: Int, dup: Bool) {
        packetsOut.increment(Int(PacketType.publish.rawValue))
        bytesOut &+= packetBytes
        messagesOut &+= 1
        payloadBytesOut &+= payloadBytes
        if dup { redelivered &+= 1 }
    }

    /// Zeroes the counts.
    public mutating func reset() {
        packetsIn = PacketTypeCounts()
        packetsOut = PacketTypeCounts()
        bytesIn = 0
        bytesOut = 0
        messagesIn = 0
        payloadBytesIn = 0
        messagesOut = 0
        payloadBytesOut = 0
        redelivered = 0
    }
}

/// Sixteen counters, one per packet type, stored inline: as a `[Int]` each
/// was an allocation of its own, 320 bytes of every idle connection.
public struct PacketTypeCounts: Sendable, Equatable {
    private var storage: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    public init() {}

    public static let count = 16

    /// `index` is a packet type's raw value, 0...15.
    public subscript(index: Int) -> Int {
        get {
            precondition(index >= 0 && index < Self.count, "packet type out of range")
            var copy = storage
            return withUnsafeBytes(of: &copy) { $0.load(fromByteOffset: index * MemoryLayout<Int>.stride, as: Int.self) }
        }
        set {
            precondition(index >= 0 && index < Self.count, "packet type out of range")
            withUnsafeMutableBytes(of: &storage) {
                $0.storeBytes(of: newValue, toByteOffset: index * MemoryLayout<Int>.stride, as: Int.self)
            }
        }
    }

    /// Adds one to a packet type's count, in place (`self[i] += 1` would
    /// copy all sixteen to read one).
    @inline(__always)
    public mutating func increment(_ index: Int) {
        precondition(index >= 0 && index < Self.count, "packet type out of range")
        withUnsafeMutableBytes(of: &storage) { raw in
            let offset = index * MemoryLayout<Int>.stride
            raw.storeBytes(of: raw.load(fromByteOffset: offset, as: Int.self) &+ 1, toByteOffset: offset, as: Int.self)
        }
    }

    /// Calls `body` with each packet type whose count is not zero, reading
    /// the counters in place (a batch has a few at most).
    @inline(__always)
    public func forEachNonZero(_ body: (_ type: Int, _ count: Int) -> Void) {
        var copy = storage
        withUnsafeBytes(of: &copy) { raw in
            for type in 0..<Self.count {
                let count = raw.load(fromByteOffset: type * MemoryLayout<Int>.stride, as: Int.self)
                if count != 0 { body(type, count) }
            }
        }
    }

    public static func == (lhs: PacketTypeCounts, rhs: PacketTypeCounts) -> Bool {
        (0..<count).allSatisfy { lhs[$0] == rhs[$0] }
    }
}
