import NIOCore

/// One thing a NATS server sends a client.
public enum NATSServerOperation: Sendable {
    case info(NATSServerInfo)
    case message(NATSMessage)
    case ping
    case pong
    /// `+OK`, only in verbose mode (which this client does not ask for).
    case ok
    /// `-ERR 'text'`: the text without its quotes. Most end the connection
    /// (the server closes it); `Permissions Violation` ones do not.
    case error(String)
}

/// A MSG or HMSG: a message delivered to one of our subscriptions.
public struct NATSMessage: Sendable {
    public var subject: String
    /// The subscription it arrived for.
    public var sid: UInt64
    public var replyTo: String?
    /// Nil for MSG; HMSG always has them (possibly only a status).
    public var headers: NATSHeaders?
    /// A slice of the read buffer: no copy.
    public var payload: ByteBuffer

    public init(subject: String, sid: UInt64, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The status of a status-only message (503 no responders, 404/408/409
    /// pull endings, 100 heartbeats), nil for an ordinary message.
    public var status: Int? { headers?.status }
}
