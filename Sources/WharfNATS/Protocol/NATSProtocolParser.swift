import NIOCore

/// Splits the byte stream from a NATS server into operations: a value-type
/// state machine with no channel in it, so tests drip-feed it byte by byte.
///
/// Bounded work per byte: a control line is scanned once however it is split
/// across reads (`scanned` remembers how far), and refused past
/// `maxControlLine`; a message body is refused past `maxPayload` as soon as
/// its size is read, before it is buffered.
public struct NATSProtocolParser: Sendable {
    public var maxControlLine: Int
    public var maxPayload: Int
    /// The control line of a MSG/HMSG whose body has not all arrived.
    private var pending: PendingMessage?
    /// Bytes of the current control line already searched for its LF.
    private var scanned = 0
    /// The subject of the last message: the same subject again (a node's
    /// inbox, a pull consumer's) is handed back as this string, so no
    /// allocation.
    private var lastSubject = ""

    private struct PendingMessage: Sendable {
        var subject: String
        var sid: UInt64
        var replyTo: String?
        var headerCount: Int?
        var totalCount: Int
    }

    public init(maxControlLine: Int = 64 * 1024, maxPayload: Int = 64 * 1024 * 1024) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// The next whole operation, or nil when more bytes are needed.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> NATSServerOperation? {
        if let message = pending {
            return try body(of: message, from: &buffer)
        }
        guard let line = try controlLine(&buffer) else { return nil }
        return try operation(line, &buffer)
    }

    /// Reads up to and including the next LF; the line without CR/LF.
    private mutating func controlLine(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> ByteBuffer? {
        let view = buffer.readableBytesView
        let start = view.index(view.startIndex, offsetBy: scanned)
        guard let newline = view[start...].firstIndex(of: 0x0A) else {
            scanned = view.count
            if scanned > maxControlLine { throw .controlLineTooLong(limit: maxControlLine) }
            return nil
        }
        let length = newline - view.startIndex
        if length > maxControlLine { throw .controlLineTooLong(limit: maxControlLine) }
        scanned = 0
        var line = buffer.readSlice(length: length + 1)!
        line.moveWriterIndex(to: line.writerIndex - 1)
        if line.readableBytesView.last == 0x0D { line.moveWriterIndex(to: line.writerIndex - 1) }
        return line
    }

    private mutating func operation(_ line: ByteBuffer, _ buffer: inout ByteBuffer) throws(NATSProtocolError)
        -> NATSServerOperation?
    {
        let view = line.readableBytesView
        let opEnd = view.firstIndex(where: isSpace) ?? view.endIndex
        let op = view[view.startIndex..<opEnd]
        let rest = view[opEnd...].drop(while: isSpace)
        switch op.count {
        case 3 where matches(op, "MSG"), 4 where matches(op, "HMSG"):
            let withHeaders = op.count == 4
            let offset = rest.startIndex - view.startIndex
            let parsed = line.withUnsafeReadableBytes { bytes in
                messageLine(UnsafeRawBufferPointer(rebasing: bytes[offset...]), withHeaders: withHeaders)
            }
            guard let message = parsed else { throw .malformedControlLine(Self.quote(view)) }
            guard message.totalCount <= maxPayload else { throw .payloadTooLarge(size: message.totalCount, limit: maxPayload) }
            return try body(of: message, from: &buffer)
        case 4 where matches(op, "PING"):
            return .ping
        case 4 where matches(op, "PONG"):
            return .pong
        case 3 where matches(op, "+OK"):
            return .ok
        case 4 where matches(op, "-ERR"):
            var text = rest
            if text.first == UInt8(ascii: "'") { text = text.dropFirst() }
            if text.last == UInt8(ascii: "'") { text = text.dropLast() }
            return .error(String(decoding: text, as: UTF8.self))
        case 4 where matches(op, "INFO"):
            return .info(try NATSServerInfo.decode(rest))
        default:
            throw .unknownOperation(Self.quote(op))
        }
    }

    private mutating func body(of message: PendingMessage, from buffer: inout ByteBuffer) throws(NATSProtocolError)
        -> NATSServerOperation?
    {
        guard buffer.readableBytes >= message.totalCount + 2 else {
            pending = message
            return nil
        }
        pending = nil
        var headers: NATSHeaders?
        if let headerCount = message.headerCount {
            headers = try NATSHeaders.parse(buffer.readableBytesView.prefix(headerCount))
            buffer.moveReaderIndex(forwardBy: headerCount)
        }
        let payload = buffer.readSlice(length: message.totalCount - (message.headerCount ?? 0))!
        guard buffer.readInteger(as: UInt8.self) == 0x0D, buffer.readInteger(as: UInt8.self) == 0x0A else {
            throw .missingPayloadTerminator
        }
        return .message(
            NATSMessage(subject: message.subject, sid: message.sid, replyTo: message.replyTo, headers: headers, payload: payload))
    }

    private mutating func subject(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        if lastSubject.utf8.elementsEqual(bytes) { return lastSubject }
        lastSubject = String(decoding: bytes, as: UTF8.self)
        return lastSubject
    }

    private func matches(_ op: ByteBufferView.SubSequence, _ name: StaticString) -> Bool {
        // Operation names are case-insensitive in the protocol.
        var index = op.startIndex
        for expected in UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount) {
            let byte = op[index]
            guard byte == expected || (byte >= 0x61 && byte <= 0x7A && byte - 0x20 == expected) else { return false }
            index = op.index(after: index)
        }
        return true
    }

    /// The arguments of a MSG (`subject sid [reply] size`) or HMSG
    /// (`subject sid [reply] header-size total-size`) line, read through a
    /// raw pointer with no array and no reference counting per message:
    /// this runs for every message the node receives. Nil when malformed.
    private mutating func messageLine(_ bytes: UnsafeRawBufferPointer, withHeaders: Bool) -> PendingMessage? {
        var starts: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)
        var ends: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)
        var count = 0
        var index = 0
        while index < bytes.count {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            guard index < bytes.count else { break }
            let start = index
            while index < bytes.count, !isSpace(bytes[index]) { index += 1 }
            switch count {
            case 0: (starts.0, ends.0) = (start, index)
            case 1: (starts.1, ends.1) = (start, index)
            case 2: (starts.2, ends.2) = (start, index)
            case 3: (starts.3, ends.3) = (start, index)
            case 4: (starts.4, ends.4) = (start, index)
            default: return nil
            }
            count += 1
        }
        func argument(_ n: Int) -> Slice<UnsafeRawBufferPointer> {
            switch n {
            case 0: return bytes[starts.0..<ends.0]
            case 1: return bytes[starts.1..<ends.1]
            case 2: return bytes[starts.2..<ends.2]
            case 3: return bytes[starts.3..<ends.3]
            default: return bytes[starts.4..<ends.4]
            }
        }
        let sizes = withHeaders ? 2 : 1
        guard count == 2 + sizes || count == 3 + sizes, let sid = UInt64(decimal: argument(1)),
            let total = Int(decimal: argument(count - 1))
        else { return nil }
        var headerCount: Int?
        if withHeaders {
            guard let headers = Int(decimal: argument(count - 2)), headers <= total else { return nil }
            headerCount = headers
        }
        let replyTo = count == 3 + sizes ? String(decoding: argument(2), as: UTF8.self) : nil
        return PendingMessage(subject: subject(argument(0)), sid: sid, replyTo: replyTo, headerCount: headerCount, totalCount: total)
    }

    /// A bounded, printable quote of bad input for an error message.
    static func quote(_ bytes: some Collection<UInt8>) -> String {
        let shown = bytes.prefix(80).map { $0 >= 0x20 && $0 < 0x7F ? Character(UnicodeScalar($0)) : "?" }
        return String(shown) + (bytes.count > 80 ? "..." : "")
    }
}

private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

extension UInt64 {
    init?<Bytes: Collection>(decimal bytes: Bytes) where Bytes.Element == UInt8 {
        guard let value = Int(decimal: bytes) else { return nil }
        self = UInt64(value)
    }
}
