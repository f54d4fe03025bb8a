import NIOCore

/// A message read with `DIRECT.GET`: from any replica of a stream that
/// allows direct reads, without going through the leader.
public struct DirectMessage: Sendable {
    public var subject: String
    public var sequence: UInt64
    /// When the stream stored it (`Nats-Time-Stamp`, RFC 3339).
    public var timestamp: JetStreamTimestamp?
    /// The message's own headers, without the `Nats-Stream`, `Nats-Subject`,
    /// `Nats-Sequence` and `Nats-Time-Stamp` the reply adds.
    public var headers: NATSHeaders
    public var payload: ByteBuffer

    static let replyHeaders: Set<String> = ["Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp"]

    init?(_ message: NATSMessage) {
        guard let headers = message.headers, headers.status == nil,
            let subject = headers["Nats-Subject"], let sequence = headers["Nats-Sequence"].flatMap(UInt64.init)
        else { return nil }
        self.subject = subject
        self.sequence = sequence
        timestamp = headers["Nats-Time-Stamp"].flatMap(JetStreamTimestamp.init(rfc3339:))
        var own = NATSHeaders()
        for field in headers.fields where !Self.replyHeaders.contains(field.name) { own.append(field.name, field.value) }
        self.headers = own
        payload = message.payload
    }
}

extension JetStream {
    /// Reads one message directly (the stream needs `allow_direct`): by
    /// sequence, the last of a subject, or the next of a subject from a
    /// sequence. Nil when there is none (404).
    public func directGet(_ stream: String, _ request: StreamMessageGetRequest, timeout: Duration? = nil) async throws(JetStreamError)
        -> DirectMessage?
    {
        var payload = ByteBuffer()
        payload.writeBytes(try JetStreamRequest.encode(request))
        return try await directGet(api.directGet(stream), payload: payload, timeout: timeout)
    }

    /// The last message of `subject`, by the subject-in-the-request-subject
    /// form (no body to encode).
    public func directGetLast(_ stream: String, subject: String, timeout: Duration? = nil) async throws(JetStreamError)
        -> DirectMessage?
    {
        try await directGet(api.directGetLast(stream, subject: subject), payload: ByteBuffer(), timeout: timeout)
    }

    private func directGet(_ requestSubject: String, payload: ByteBuffer, timeout: Duration?) async throws(JetStreamError)
        -> DirectMessage?
    {
        let reply: NATSMessage
        do {
            reply = try await connection.request(requestSubject, payload: payload, timeout: timeout ?? self.timeout)
        } catch {
            throw JetStreamError(error)
        }
        if let status = reply.status {
            if status == 404 { return nil }
            throw .api(JetStreamAPIError(code: status, errorCode: JetStreamErrorCode(0), text: reply.headers?.statusDescription ?? ""))
        }
        guard let message = DirectMessage(reply) else {
            throw .decoding("direct get reply without Nats-Subject and Nats-Sequence")
        }
        return message
    }
}
