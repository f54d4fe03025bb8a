import WharfMQTT

/// What one connection did since its last flush: packets and bytes each
/// way, and copies delivered. The connection counts into plain integers and
/// hands the batch to the metrics model once per flush, so the shared
/// counters see a few atomic adds per batch instead of several per message.
public struct TrafficBatch: Sendable {
    /// Indexed by packet type raw value (0...15). Allocated once per connection.
    public var packetsIn = [Int](repeating: 0, count: 16)
    public var packetsOut = [Int](repeating: 0, count: 16)
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
        packetsIn[Int(type.rawValue)] &+= 1
        bytesIn &+= bytes
    }

    @inline(__always)
    public mutating func sent(_ type: PacketType, bytes: Int) {
        packetsOut[Int(type.rawValue)] &+= 1
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
        packetsOut[Int(PacketType.publish.rawValue)] &+= 1
        bytesOut &+= packetBytes
        messagesOut &+= 1
        payloadBytesOut &+= payloadBytes
        if dup { redelivered &+= 1 }
    }

    /// Zeroes the counts, keeping the arrays' storage.
    public mutating func reset() {
        for index in 0..<16 {
            packetsIn[index] = 0
            packetsOut[index] = 0
        }
        bytesIn = 0
        bytesOut = 0
        messagesIn = 0
        payloadBytesIn = 0
        messagesOut = 0
        payloadBytesOut = 0
        redelivered = 0
    }
}
