import NIOCore

/// What the bench client needs from a server-to-client packet, parsed in
/// place from the read buffer. The shared codec builds a full `MQTTPacket`
/// (a topic `String`, a boxed `NIOAny` per packet); at hundreds of thousands
/// of deliveries a second that allocation would make the load generator,
/// not the broker, the bottleneck. This struct is small enough to need none.
enum BenchFrame {
    case connack(returnCode: UInt8)
    /// Whether the broker granted the (single) filter of our SUBSCRIBE.
    case suback(granted: Bool)
    case puback
    case publish(qos: UInt8, packetId: UInt16, stamp: BenchPayload.Stamp?)
    /// PINGRESP and anything else the bench ignores.
    case other
}

/// The first 16 bytes of every bench payload: when the message was sent,
/// by which publisher, and its sequence number, so the subscriber can
/// measure latency and tell lost and duplicated messages apart.
enum BenchPayload {
    static let headerSize = 16

    struct Stamp {
        var sentNanos: UInt64
        var publisher: UInt32
        var sequence: UInt32
    }

    static func write(_ stamp: Stamp, size: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(stamp.sentNanos)
        buffer.writeInteger(stamp.publisher)
        buffer.writeInteger(stamp.sequence)
        buffer.writeRepeatingByte(0x61, count: size - headerSize)
    }

    static func read(_ buffer: ByteBuffer, at index: Int) -> Stamp? {
        guard let sent = buffer.getInteger(at: index, as: UInt64.self),
            let publisher = buffer.getInteger(at: index + 8, as: UInt32.self),
            let sequence = buffer.getInteger(at: index + 12, as: UInt32.self)
        else { return nil }
        return Stamp(sentNanos: sent, publisher: publisher, sequence: sequence)
    }
}

enum BenchFrameReader {
    /// Far above anything a broker sends the bench; a larger length means a
    /// broken stream, and buffering it would only hide that.
    static let maxPacketSize = 1 << 20

    /// The next whole packet in `buffer` (consumed), or nil if more bytes are needed.
    static func next(_ buffer: inout ByteBuffer) throws(BenchError) -> BenchFrame? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        // Remaining length: 1 to 4 bytes, 7 bits each.
        var remaining = 0
        var lengthBytes = 0
        while true {
            guard lengthBytes < 4 else { throw .malformed("remaining length longer than 4 bytes") }
            guard let byte = buffer.getInteger(at: start + 1 + lengthBytes, as: UInt8.self) else { return nil }
            remaining |= Int(byte & 0x7F) << (7 * lengthBytes)
            lengthBytes += 1
            if byte & 0x80 == 0 { break }
        }
        guard remaining <= maxPacketSize else { throw .malformed("a \(remaining)-byte packet") }
        let body = start + 1 + lengthBytes
        guard buffer.readableBytes >= 1 + lengthBytes + remaining else { return nil }
        // Parsed before consuming: NIO's get methods only read readable bytes.
        defer { buffer.moveReaderIndex(to: body + remaining) }

        switch first >> 4 {
        case 2:  // CONNACK: flags, return code
            guard remaining >= 2, let code = buffer.getInteger(at: body + 1, as: UInt8.self) else { throw .malformed("short CONNACK") }
            return .connack(returnCode: code)
        case 9:  // SUBACK: packet id, one return code per filter (0x80: failure)
            guard remaining >= 3, let code = buffer.getInteger(at: body + 2, as: UInt8.self) else { throw .malformed("short SUBACK") }
            return .suback(granted: code < 0x80)
        case 4:  // PUBACK
            return .puback
        case 3:  // PUBLISH: topic, packet id when QoS > 0, payload (3.1.1: no properties)
            let qos = (first >> 1) & 0x03
            guard let topicLength = buffer.getInteger(at: body, as: UInt16.self) else { throw .malformed("short PUBLISH") }
            var index = body + 2 + Int(topicLength)
            var packetId: UInt16 = 0
            if qos > 0 {
                guard let id = buffer.getInteger(at: index, as: UInt16.self) else { throw .malformed("PUBLISH without a packet id") }
                packetId = id
                index += 2
            }
            guard index <= body + remaining else { throw .malformed("PUBLISH topic longer than the packet") }
            let stamp = body + remaining - index >= BenchPayload.headerSize ? BenchPayload.read(buffer, at: index) : nil
            return .publish(qos: qos, packetId: packetId, stamp: stamp)
        default:
            return .other
        }
    }
}
