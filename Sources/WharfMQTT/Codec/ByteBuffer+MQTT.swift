import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// Wire primitives shared by every packet: two-byte integers, length-prefixed
// UTF-8 strings and binary data, and the variable byte integer.
extension ByteBuffer {
    /// Largest value a variable byte integer can carry (4 bytes).
    public static let maxVariableByteInteger = 268_435_455

    @inlinable
    mutating func readMQTTUInt16(_ field: String) throws(MQTTDecodeError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .truncated(field: field) }
        return value
    }

    @inlinable
    mutating func readMQTTByte(_ field: String) throws(MQTTDecodeError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .truncated(field: field) }
        return value
    }

    /// A length-prefixed string; must be well-formed UTF-8 without U+0000
    /// (3.1.1 section 1.5.3).
    mutating func readMQTTString(_ field: String) throws(MQTTDecodeError) -> String {
        let length = Int(try readMQTTUInt16(field))
        guard readableBytes >= length else { throw .truncated(field: field) }
        enum Outcome {
            case valid(String)
            case containsNull, invalid
        }
        let outcome: Outcome = withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[..<length])
            // Topics and client ids are nearly always ASCII: one pass proves
            // them valid UTF-8 without NUL, and the string is made from the
            // bytes as they are. `String(validating:)` (generic, with its
            // metadata lookups) is kept for the rest.
            var ascii = true
            for byte in bytes {
                if byte == 0 { return .containsNull }
                if byte >= 0x80 { ascii = false }
            }
            if ascii { return .valid(String(decoding: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self)) }
            guard let string = String(validating: bytes, as: UTF8.self) else { return .invalid }
            return .valid(string)
        }
        moveReaderIndex(forwardBy: length)
        switch outcome {
        case .valid(let string): return string
        case .containsNull: throw .nullCharacterInString
        case .invalid: throw .invalidUTF8
        }
    }

    /// `known` if the next length-prefixed string is exactly its bytes (and
    /// not empty): the reader moves past it. Otherwise nil and nothing read.
    mutating func readMQTTString(ifEqualTo known: String) -> String? {
        guard !known.isEmpty, let length = getInteger(at: readerIndex, as: UInt16.self),
            Int(length) == known.utf8.count, readableBytes >= 2 + Int(length)
        else { return nil }
        let same: Bool? = known.utf8.withContiguousStorageIfAvailable { knownBytes in
            withUnsafeReadableBytes { raw in memcmp(raw.baseAddress! + 2, knownBytes.baseAddress!, knownBytes.count) == 0 }
        }
        guard same == true else { return nil }
        moveReaderIndex(forwardBy: 2 + Int(length))
        return known
    }

    /// Length-prefixed binary data (will payload, password), as a slice.
    mutating func readMQTTBinary(_ field: String) throws(MQTTDecodeError) -> ByteBuffer {
        let length = Int(try readMQTTUInt16(field))
        guard let slice = readSlice(length: length) else { throw .truncated(field: field) }
        return slice
    }

    /// Largest string or binary field: its length is two bytes.
    public static let maxMQTTFieldLength = Int(UInt16.max)

    /// A length-prefixed string. Never traps on length: what does not fit
    /// 65,535 bytes is cut at a scalar boundary. Encoders bound what they
    /// quote long before this (see `ReasonString`); this is the last guard,
    /// so a string a client made too long can never stop the process.
    @discardableResult
    public mutating func writeMQTTString(_ string: String) -> Int {
        let count = string.utf8.count
        guard count > Self.maxMQTTFieldLength else {
            let prefix = writeInteger(UInt16(truncatingIfNeeded: count))
            // The contiguous bytes in one copy: `writeString` went through
            // NIO's generic string path, ~600 instructions per delivered topic.
            let written = string.utf8.withContiguousStorageIfAvailable { writeBytes(UnsafeRawBufferPointer($0)) }
            return prefix + (written ?? writeString(string))
        }
        let cut = ReasonString.prefix(of: string, maxBytes: Self.maxMQTTFieldLength)
        return writeInteger(UInt16(truncatingIfNeeded: cut.utf8.count)) + writeSubstring(cut)
    }

    /// Length-prefixed binary data; like `writeMQTTString`, cut rather than trap.
    @discardableResult
    public mutating func writeMQTTBinary(_ bytes: ByteBuffer) -> Int {
        var bytes = bytes
        if bytes.readableBytes > Self.maxMQTTFieldLength { bytes = bytes.getSlice(at: bytes.readerIndex, length: Self.maxMQTTFieldLength)! }
        return writeInteger(UInt16(truncatingIfNeeded: bytes.readableBytes)) + writeBuffer(&bytes)
    }

    /// Bytes `writeMQTTString` writes for `string`, length prefix included
    /// (for an over-long one, its cut at a scalar boundary).
    public static func mqttStringSize(_ string: String) -> Int {
        let count = string.utf8.count
        guard count > maxMQTTFieldLength else { return 2 + count }
        return 2 + ReasonString.prefix(of: string, maxBytes: maxMQTTFieldLength).utf8.count
    }

    @discardableResult
    public mutating func writeVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= ByteBuffer.maxVariableByteInteger)
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            written += writeInteger(byte)
        } while remaining > 0
        return written
    }

    public static func variableByteIntegerSize(_ value: Int) -> Int {
        switch value {
        case ..<128: return 1
        case ..<16_384: return 2
        case ..<2_097_152: return 3
        default: return 4
        }
    }

    /// Reads a variable byte integer at `index` without moving the reader.
    /// Returns nil when more bytes are needed; throws when a fifth byte would
    /// be needed (malformed).
    func getVariableByteInteger(at index: Int) throws(MQTTDecodeError) -> (value: Int, length: Int)? {
        var value = 0
        var multiplier = 1
        for offset in 0..<4 {
            guard let byte = getInteger(at: index + offset, as: UInt8.self) else { return nil }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return (value, offset + 1) }
            multiplier *= 128
        }
        throw .malformedRemainingLength
    }
}
