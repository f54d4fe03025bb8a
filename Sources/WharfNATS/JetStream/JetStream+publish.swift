import NIOCore

/// Expectations and identity a JetStream publish carries in its headers;
/// the stream checks them atomically with the write.
public struct JetStreamPublishOptions: Sendable, Hashable {
    /// `Nats-Msg-Id`: a second publish with the same id inside the stream's
    /// duplicate window is acknowledged (`duplicate: true`) but not stored,
    /// so a publish retried after a lost ack is stored once.
    public var messageId: String?
    /// `Nats-Expected-Last-Subject-Sequence`: the write happens only if the
    /// subject's last message has this sequence (0: the subject is empty).
    /// Compare-and-swap for KV records.
    public var expectedLastSubjectSequence: UInt64?
    /// `Nats-Expected-Stream`: refuse if the subject belongs to another stream.
    public var expectedStream: String?
    /// `Nats-Expected-Last-Sequence`: the stream's last sequence.
    public var expectedLastSequence: UInt64?

    public init(
        messageId: String? = nil, expectedLastSubjectSequence: UInt64? = nil, expectedStream: String? = nil,
        expectedLastSequence: UInt64? = nil
    ) {
        self.messageId = messageId
        self.expectedLastSubjectSequence = expectedLastSubjectSequence
        self.expectedStream = expectedStream
        self.expectedLastSequence = expectedLastSequence
    }

    /// Adds the headers to `headers`.
    func apply(to headers: inout NATSHeaders) {
        if let messageId { headers.set("Nats-Msg-Id", messageId) }
        if let expectedLastSubjectSequence {
            headers.set("Nats-Expected-Last-Subject-Sequence", String(expectedLastSubjectSequence))
        }
        if let expectedStream { headers.set("Nats-Expected-Stream", expectedStream) }
        if let expectedLastSequence { headers.set("Nats-Expected-Last-Sequence", String(expectedLastSequence)) }
    }

    var isEmpty: Bool {
        messageId == nil && expectedLastSubjectSequence == nil && expectedStream == nil && expectedLastSequence == nil
    }
}

extension JetStream {
    public typealias PublishHandler = @Sendable (Result<PublishAck, JetStreamError>) -> Void

    /// Publishes to a stream's subject and calls `acknowledged` once, on the
    /// connection's loop, when the stream stored it (or refused, or the ack
    /// did not come). Pipelined: call it as often as needed without waiting;
    /// writes are batched by the connection.
    ///
    /// A `.timeout` or `.connection(.connectionLost)` leaves the outcome
    /// unknown: publish again with the same `messageId`.
    public func publish(
        _ subject: String, headers: NATSHeaders? = nil, payload: ByteBuffer, options: JetStreamPublishOptions = .init(),
        timeout: Duration? = nil, acknowledged: @escaping PublishHandler
    ) {
        var allHeaders = headers
        if !options.isEmpty {
            var merged = headers ?? NATSHeaders()
            options.apply(to: &merged)
            allHeaders = merged
        }
        connection.request(subject, headers: allHeaders, payload: payload, timeout: timeout ?? self.timeout) { reply in
            switch reply {
            case .success(let message):
                acknowledged(JetStreamResponse.result(PublishAck.self, from: message.payload.readableBytesView))
            case .failure(let error):
                acknowledged(.failure(JetStreamError(error)))
            }
        }
    }

    /// `publish` for async callers.
    public func publish(
        _ subject: String, headers: NATSHeaders? = nil, payload: ByteBuffer, options: JetStreamPublishOptions = .init(),
        timeout: Duration? = nil
    ) async throws(JetStreamError) -> PublishAck {
        let result: Result<PublishAck, JetStreamError> = await withCheckedContinuation { continuation in
            publish(subject, headers: headers, payload: payload, options: options, timeout: timeout) {
                continuation.resume(returning: $0)
            }
        }
        return try result.get()
    }
}
