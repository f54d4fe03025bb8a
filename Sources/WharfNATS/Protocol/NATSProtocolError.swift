/// Why bytes from a NATS server are not valid protocol, or why something we
/// were asked to send would not be.
///
/// A parse error ends the connection: the stream is out of step and nothing
/// after it can be trusted. The connection then reconnects like after any
/// other loss.
public enum NATSProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A control line longer than the limit without its CRLF.
    case controlLineTooLong(limit: Int)
    case unknownOperation(String)
    /// A control line whose arguments do not fit its operation.
    case malformedControlLine(String)
    /// A MSG/HMSG announcing more bytes than the limit.
    case payloadTooLarge(size: Int, limit: Int)
    /// The payload was not followed by CRLF.
    case missingPayloadTerminator
    case malformedHeaders(String)
    case malformedInfo(String)
    /// A subject, queue group or reply subject we were asked to send that
    /// is empty or holds whitespace or control bytes (it would split or
    /// forge a control line).
    case invalidSubject(String)
    /// A header name or value with CR, LF or (in a name) a colon.
    case invalidHeader(String)

    public var description: String {
        switch self {
        case .controlLineTooLong(let limit): return "control line longer than \(limit) bytes"
        case .unknownOperation(let op): return "unknown operation \(op)"
        case .malformedControlLine(let line): return "malformed control line: \(line)"
        case .payloadTooLarge(let size, let limit): return "payload of \(size) bytes exceeds \(limit)"
        case .missingPayloadTerminator: return "payload not followed by CRLF"
        case .malformedHeaders(let why): return "malformed headers: \(why)"
        case .malformedInfo(let why): return "malformed INFO: \(why)"
        case .invalidSubject(let subject): return "invalid subject \(subject.debugDescription)"
        case .invalidHeader(let header): return "invalid header \(header.debugDescription)"
        }
    }
}
