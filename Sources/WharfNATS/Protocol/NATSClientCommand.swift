import NIOCore

/// What a client writes to a NATS server, encoded straight into the
/// connection's outbound buffer (one write per batch, no intermediate
/// values). Every subject, queue group and reply subject is checked first:
/// a space or CRLF in one would split or forge a control line.
extension ByteBuffer {
    public mutating func writeNATSConnect(json: String) {
        writeStaticString("CONNECT ")
        writeString(json)
        writeStaticString("\r\n")
    }

    public mutating func writeNATSPing() { writeStaticString("PING\r\n") }

    public mutating func writeNATSPong() { writeStaticString("PONG\r\n") }

    /// PUB, or HPUB when there are headers.
    public mutating func writeNATSPublish(
        subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer
    ) throws(NATSProtocolError) {
        try payload.withUnsafeReadableBytes { (bytes) throws(NATSProtocolError) in
            try writeNATSPublish(subject: subject, replyTo: replyTo, headers: headers, payloadBytes: bytes)
        }
    }

    public mutating func writeNATSPublish(
        subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payloadBytes: UnsafeRawBufferPointer
    ) throws(NATSProtocolError) {
        try NATSSubject.checkPublishable(subject)
        if let replyTo { try NATSSubject.checkPublishable(replyTo) }
        if let headers, !headers.isEmpty {
            try headers.validate()
            let headerCount = headers.encodedCount
            writeStaticString("HPUB ")
            writeSubjectAndReply(subject, replyTo)
            writeDecimal(headerCount)
            writeInteger(UInt8(ascii: " "))
            writeDecimal(headerCount + payloadBytes.count)
            writeStaticString("\r\n")
            headers.encode(into: &self)
        } else {
            writeStaticString("PUB ")
            writeSubjectAndReply(subject, replyTo)
            writeDecimal(payloadBytes.count)
            writeStaticString("\r\n")
        }
        writeBytes(payloadBytes)
        writeStaticString("\r\n")
    }

    /// `PUB <subject> <count>\r\n`: the caller writes the payload and CRLF
    /// (after checking the subject).
    mutating func writeNATSPublishHeader(subject: String, payloadCount: Int) {
        writeStaticString("PUB ")
        writeString(subject)
        writeInteger(UInt8(ascii: " "))
        writeDecimal(payloadCount)
        writeStaticString("\r\n")
    }

    /// SUB: wildcards allowed; `queue` makes it a member of a queue group.
    public mutating func writeNATSSubscribe(subject: String, queue: String? = nil, sid: UInt64) throws(NATSProtocolError) {
        try NATSSubject.checkFilter(subject)
        if let queue { try NATSSubject.checkToken(queue) }
        writeStaticString("SUB ")
        writeString(subject)
        writeInteger(UInt8(ascii: " "))
        if let queue {
            writeString(queue)
            writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(Int(sid))
        writeStaticString("\r\n")
    }

    /// UNSUB, at once or (with `max`) after that many more messages.
    public mutating func writeNATSUnsubscribe(sid: UInt64, max: Int? = nil) {
        writeStaticString("UNSUB ")
        writeDecimal(Int(sid))
        if let max {
            writeInteger(UInt8(ascii: " "))
            writeDecimal(max)
        }
        writeStaticString("\r\n")
    }

    private mutating func writeSubjectAndReply(_ subject: String, _ replyTo: String?) {
        writeString(subject)
        writeInteger(UInt8(ascii: " "))
        if let replyTo {
            writeString(replyTo)
            writeInteger(UInt8(ascii: " "))
        }
    }
}

/// Subject syntax: dot-separated tokens of printable bytes other than space;
/// `*` and `>` are wildcards in a subscription (`>` only last).
public enum NATSSubject {
    /// A subject to publish to: no empty tokens, no space or control byte.
    /// Wildcard tokens pass: the server takes them in a publish subject,
    /// and the JetStream API puts a consumer's filter in one
    /// (`CONSUMER.CREATE.<stream>.<name>.<filter>`).
    public static func checkPublishable(_ subject: String) throws(NATSProtocolError) {
        guard isWellFormed(subject, fullWildcardLast: false) else { throw .invalidSubject(subject) }
    }

    /// A subscription subject: wildcards only as whole tokens, `>` last.
    public static func checkFilter(_ subject: String) throws(NATSProtocolError) {
        guard isWellFormed(subject, fullWildcardLast: true) else { throw .invalidSubject(subject) }
    }

    /// One token (a queue group name): printable, no space, no dot needed.
    public static func checkToken(_ token: String) throws(NATSProtocolError) {
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { throw .invalidSubject(token) }
    }

    static func isWellFormed(_ subject: String, fullWildcardLast: Bool) -> Bool {
        let tokens = subject.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for (index, token) in tokens.enumerated() {
            guard !token.isEmpty, token.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return false }
            // `*` and `>` are wildcards only as whole tokens; inside one they are ordinary bytes.
            guard token.count == 1, token.first == UInt8(ascii: "*") || token.first == UInt8(ascii: ">") else { continue }
            if fullWildcardLast, token.first == UInt8(ascii: ">"), index != tokens.count - 1 { return false }
        }
        return true
    }
}
