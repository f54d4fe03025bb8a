import NIOCore

// The property list on the wire (MQTT 5.0 section 2.2.2): a variable byte
// integer length, then identifier/value pairs.
extension MQTTProperties {
    /// Bytes of the entries, without the length prefix.
    public var entriesSize: Int { entries.reduce(0) { $0 + $1.wireSize } }

    /// Bytes on the wire, length prefix included.
    public var wireSize: Int {
        let size = entriesSize
        return ByteBuffer.variableByteIntegerSize(size) + size
    }

    /// Writes the length prefix and the entries.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeVariableByteInteger(entriesSize)
        writeEntries(into: &buffer)
    }

    /// Writes the entries alone (for callers that add entries of their own
    /// under one length prefix).
    public func writeEntries(into buffer: inout ByteBuffer) {
        for entry in entries {
            buffer.writeInteger(entry.identifier)
            switch entry.value {
            case .byte(let v): buffer.writeInteger(v)
            case .twoByteInteger(let v): buffer.writeInteger(v)
            case .fourByteInteger(let v): buffer.writeInteger(v)
            case .variableByteInteger(let v): buffer.writeVariableByteInteger(Int(v))
            case .string(let s): buffer.writeMQTTString(s)
            case .binary(let b): buffer.writeMQTTBinary(b)
            case .stringPair(let k, let v):
                buffer.writeMQTTString(k)
                buffer.writeMQTTString(v)
            }
        }
    }

    /// Reads a property list for `context`. A property the spec does not
    /// allow there is a malformed packet; one given twice that may appear
    /// once, or a value the spec forbids, is a protocol error.
    static func read(from buffer: inout ByteBuffer, in context: PropertyIdentifier.Context, packet: String) throws(MQTTDecodeError)
        -> MQTTProperties
    {
        let length = try buffer.readVariableByteInteger("property length")
        guard length > 0 else { return .none }
        guard let slice = buffer.readSlice(length: length) else { throw .truncated(field: "properties") }
        return try readEntries(slice, in: context, packet: packet)
    }

    /// Reads property entries with no length before them (the form
    /// `writeEntries` writes: a message's forwarded properties), with the
    /// same checks as `read`.
    public static func readEntries(_ entries: ByteBuffer, in context: PropertyIdentifier.Context, packet: String)
        throws(MQTTDecodeError) -> MQTTProperties
    {
        var slice = entries
        var properties = MQTTProperties()
        var seen: UInt64 = 0  // identifiers are below 64
        while slice.readableBytes > 0 {
            let raw = try slice.readVariableByteInteger("property identifier")
            guard raw < 64, let definition = PropertyIdentifier(rawValue: UInt8(raw)).definition else {
                throw .unknownProperty(raw)
            }
            let identifier = PropertyIdentifier(rawValue: UInt8(raw))
            guard definition.allowedIn.contains(context) else {
                throw .propertyNotAllowed(property: identifier.rawValue, packet: packet)
            }
            if !identifier.isRepeatable(in: context) {
                guard seen & (1 << raw) == 0 else { throw .duplicateProperty(identifier.rawValue) }
                seen |= 1 << raw
            }
            let value: MQTTProperty.Value
            switch definition.type {
            case .byte: value = .byte(try slice.readMQTTByte("\(identifier)"))
            case .twoByteInteger: value = .twoByteInteger(try slice.readMQTTUInt16("\(identifier)"))
            case .fourByteInteger:
                guard let v = slice.readInteger(as: UInt32.self) else { throw .truncated(field: "\(identifier)") }
                value = .fourByteInteger(v)
            case .variableByteInteger: value = .variableByteInteger(UInt32(try slice.readVariableByteInteger("\(identifier)")))
            case .string: value = .string(try slice.readMQTTString("\(identifier)"))
            case .binary: value = .binary(ByteBuffer(buffer: try slice.readMQTTBinary("\(identifier)")))
            case .stringPair:
                let key = try slice.readMQTTString("user property name")
                value = .stringPair(key, try slice.readMQTTString("user property value"))
            }
            try Self.check(identifier, value)
            properties.entries.append(MQTTProperty(identifier: identifier.rawValue, value: value))
        }
        return properties
    }

    /// Values the spec calls a protocol error.
    private static func check(_ identifier: PropertyIdentifier, _ value: MQTTProperty.Value) throws(MQTTDecodeError) {
        switch (identifier, value) {
        case (.payloadFormatIndicator, .byte(let v)), (.requestProblemInformation, .byte(let v)),
            (.requestResponseInformation, .byte(let v)), (.maximumQoS, .byte(let v)), (.retainAvailable, .byte(let v)),
            (.wildcardSubscriptionAvailable, .byte(let v)), (.subscriptionIdentifierAvailable, .byte(let v)),
            (.sharedSubscriptionAvailable, .byte(let v)):
            if v > 1 { throw .invalidPropertyValue(property: identifier.rawValue, value: Int(v)) }
        case (.receiveMaximum, .twoByteInteger(0)):
            throw .invalidPropertyValue(property: identifier.rawValue, value: 0)
        case (.maximumPacketSize, .fourByteInteger(0)), (.subscriptionIdentifier, .variableByteInteger(0)):
            throw .invalidPropertyValue(property: identifier.rawValue, value: 0)
        default:
            break
        }
    }
}

extension ByteBuffer {
    /// Reads a variable byte integer (at most 4 bytes).
    mutating func readVariableByteInteger(_ field: String) throws(MQTTDecodeError) -> Int {
        guard let (value, length) = try getVariableByteInteger(at: readerIndex) else { throw .truncated(field: field) }
        moveReaderIndex(forwardBy: length)
        return value
    }
}
