import NIOCore

/// Request/reply over the connection's one inbox subscription.
extension NATSConnection {
    /// Publishes with a reply subject and calls `reply` once, on the loop,
    /// with the answer, `.timeout`, `.noResponders` or `.connectionLost`.
    public func request(
        _ subject: String, headers: NATSHeaders? = nil, payload: ByteBuffer = ByteBuffer(), timeout: Duration? = nil,
        reply: @escaping ReplyHandler
    ) {
        let deadline = NIODeadline.now() + .nanoseconds((timeout ?? options.requestTimeout).nanoseconds)
        do throws(NATSError) {
            try enqueueRegistering({ (state: inout State) throws(NATSError) in
                let token = state.requests.add(reply, deadline: deadline)
                do throws(NATSProtocolError) {
                    try state.outbound.writeNATSPublish(
                        subject: subject, replyTo: inbox + String(token), headers: headers, payload: payload)
                } catch {
                    _ = state.requests.complete(token)
                    throw .protocolError(error)
                }
            })
        } catch {
            eventLoop.execute { reply(.failure(error)) }
        }
    }

    /// `request` for async callers (the control plane).
    public func request(
        _ subject: String, headers: NATSHeaders? = nil, payload: ByteBuffer = ByteBuffer(), timeout: Duration? = nil
    ) async throws(NATSError) -> NATSMessage {
        let result: Result<NATSMessage, NATSError> = await withCheckedContinuation { continuation in
            request(subject, headers: headers, payload: payload, timeout: timeout) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}
