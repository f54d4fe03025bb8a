import NIOCore

/// The headers of an HPUB or HMSG: a `NATS/1.0` line that may carry a status
/// (`NATS/1.0 404 No Messages`), then `Name: Value` lines, then a blank line.
///
/// Servers use the status for pull endings (404, 408, 409), idle heartbeats
/// and flow control (100) and "no responders" (503). Names keep their case:
/// nats-server matches `Nats-Msg-Id` and its kin byte for byte.
public struct NATSHeaders: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The status code of the first line, nil for plain headers.
    public var status: Int?
    /// The text after the status (`No Messages`, `Request Timeout`), empty when none.
    public var statusDescription: String
    public private(set) var fields: [Field]

    public init(status: Int? = nil, statusDescription: String = "", fields: [Field] = []) {
        self.status = status
        self.statusDescription = statusDescription
        self.fields = fields
    }

    public var isEmpty: Bool { status == nil && fields.isEmpty }

    /// The first value of `name`: an exact match first, then one ignoring
    /// case (other clients canonicalise names, `Nats-Msg-Id` vs `NATS-MSG-ID`).
    public subscript(name: String) -> String? {
        if let field = fields.first(where: { $0.name == name }) { return field.value }
        let lowered = name.lowercased()
        return fields.first(where: { $0.name.lowercased() == lowered })?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    /// Adds a value; names may repeat.
    public mutating func append(_ name: String, _ value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every value of `name` with one.
    public mutating func set(_ name: String, _ value: String) {
        fields.removeAll { $0.name == name }
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name == name }
    }

    /// Checks what `encode` would send: names without CR, LF, colon or
    /// space, values without CR or LF, so no input can forge a header line
    /// or end the block early.
    public func validate() throws(NATSProtocolError) {
        for field in fields {
            guard !field.name.isEmpty,
                field.name.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: ":") })
            else { throw .invalidHeader(field.name) }
            guard field.value.utf8.allSatisfy({ $0 != 0x0D && $0 != 0x0A }) else { throw .invalidHeader(field.value) }
        }
    }

    /// The wire form, ending with the blank line. Call `validate` first.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("NATS/1.0")
        if let status {
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeDecimal(status)
            if !statusDescription.isEmpty {
                buffer.writeInteger(UInt8(ascii: " "))
                buffer.writeString(statusDescription)
            }
        }
        buffer.writeStaticString("\r\n")
        for field in fields {
            buffer.writeString(field.name)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    public var encodedCount: Int {
        var count = 8 + 2 + 2
        if let status {
            count += 1 + String(status).utf8.count
            if !statusDescription.isEmpty { count += 1 + statusDescription.utf8.count }
        }
        for field in fields { count += field.name.utf8.count + 2 + field.value.utf8.count + 2 }
        return count
    }

    /// Parses a header block as it arrives in an HMSG (the `#header bytes`
    /// part, blank line included).
    public static func parse(_ bytes: ByteBufferView) throws(NATSProtocolError) -> NATSHeaders {
        var lines = HeaderLines(bytes)
        guard let first = lines.next() else { throw .malformedHeaders("empty") }
        let version = Array("NATS/1.0".utf8)
        guard first.starts(with: version) else { throw .malformedHeaders("no NATS/1.0 line") }
        var headers = NATSHeaders()
        let rest = first.dropFirst(version.count)
        if !rest.isEmpty {
            guard rest.first == UInt8(ascii: " ") else { throw .malformedHeaders("bad version line") }
            let statusLine = rest.drop { $0 == UInt8(ascii: " ") }
            let codeBytes = statusLine.prefix { $0 != UInt8(ascii: " ") }
            guard let code = Int(decimal: codeBytes), code < 1000 else {
                throw .malformedHeaders("bad status")
            }
            headers.status = code
            let description = statusLine.dropFirst(codeBytes.count).drop { $0 == UInt8(ascii: " ") }
            headers.statusDescription = String(decoding: description, as: UTF8.self)
        }
        var ended = false
        while let line = lines.next() {
            if line.isEmpty {
                ended = true
                break
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon != line.startIndex else {
                throw .malformedHeaders("line without a name")
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let value = line[line.index(after: colon)...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            headers.fields.append(Field(name: name, value: String(decoding: value, as: UTF8.self)))
        }
        guard ended || headers.fields.isEmpty && lines.sawTerminator else {
            throw .malformedHeaders("no blank line at the end")
        }
        return headers
    }
}

/// CRLF-separated lines of a header block.
private struct HeaderLines {
    let bytes: ByteBufferView
    var index: ByteBufferView.Index
    /// Whether the last line returned ended with CRLF.
    var sawTerminator = false

    init(_ bytes: ByteBufferView) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    mutating func next() -> ByteBufferView.SubSequence? {
        guard index < bytes.endIndex else { return nil }
        var cursor = index
        while cursor < bytes.endIndex {
            if bytes[cursor] == 0x0D, bytes.index(after: cursor) < bytes.endIndex, bytes[bytes.index(after: cursor)] == 0x0A {
                let line = bytes[index..<cursor]
                index = bytes.index(cursor, offsetBy: 2)
                sawTerminator = true
                return line
            }
            cursor = bytes.index(after: cursor)
        }
        let line = bytes[index...]
        index = bytes.endIndex
        sawTerminator = false
        return line
    }
}

extension Int {
    /// A non-negative decimal of at most 18 digits (so it cannot overflow),
    /// or nil.
    init?<Bytes: Collection>(decimal bytes: Bytes) where Bytes.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        self = value
    }
}

extension ByteBuffer {
    /// Writes a non-negative integer in decimal without going through a String.
    @discardableResult
    mutating func writeDecimal(_ value: Int) -> Int {
        precondition(value >= 0)
        if value < 10 { return writeInteger(UInt8(ascii: "0") + UInt8(value)) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { scratch in
            var rest = value
            var position = scratch.count
            while rest > 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            return writeBytes(UnsafeRawBufferPointer(rebasing: scratch[position...]))
        }
    }
}
