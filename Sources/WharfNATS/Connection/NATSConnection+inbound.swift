import NIOCore

/// What the server sends, dispatched on the loop.
extension NATSConnection {
    func received(_ operation: NATSServerOperation, on channel: any Channel) {
        switch operation {
        case .message(let message):
            received(message)
        case .ping:
            var buffer = channel.allocator.buffer(capacity: 6)
            buffer.writeNATSPong()
            channel.writeAndFlush(buffer, promise: nil)
        case .pong:
            receivedPong(on: channel)
        case .info(let info):
            received(info: info, on: channel)
        case .ok:
            break
        case .error(let text):
            state.withLock { state in
                state.lastError = text
                state.statistics.errors += 1
            }
            // The server closes the connection after every error but
            // permission violations; closing follows from that.
            logger.warning("NATS server error", metadata: ["error": "\(text)"])
        }
    }

    private func received(_ message: NATSMessage) {
        if message.sid == Self.inboxSID {
            receivedReply(message)
            return
        }
        let handler = state.withLock { state -> MessageHandler? in
            state.statistics.messagesIn += 1
            state.statistics.bytesIn += message.payload.readableBytes
            guard var subscription = state.subscriptions[message.sid] else { return nil }
            subscription.delivered += 1
            if let maximum = subscription.maximum, subscription.delivered >= maximum {
                state.subscriptions[message.sid] = nil
            } else {
                state.subscriptions[message.sid] = subscription
            }
            return subscription.handler
        }
        handler?(message)
    }

    private func receivedReply(_ message: NATSMessage) {
        // The reply subject's last token is the request's number.
        guard message.subject.utf8.count > inbox.utf8.count,
            let token = UInt64(decimal: message.subject.utf8.dropFirst(inbox.utf8.count))
        else { return }
        let waiter = state.withLock { state in
            state.statistics.messagesIn += 1
            state.statistics.bytesIn += message.payload.readableBytes
            return state.requests.complete(token)
        }
        guard let waiter else { return }
        if message.status == 503 {
            waiter(.failure(.noResponders))
        } else {
            waiter(.success(message))
        }
    }

    private func receivedPong(on channel: any Channel) {
        let handshaking = state.withLock { state -> Bool in
            if case .handshaking(let current, _) = state.phase, current === channel { return true }
            return false
        }
        if handshaking {
            handshakeCompleted(on: channel)
            return
        }
        let now = NIODeadline.now()
        typealias Waiter = @Sendable (Result<Duration, NATSError>) -> Void
        let answered = state.withLock { state -> (Waiter, Duration)? in
            guard let (sent, waiter) = state.pongWaiters.popFirst() else { return nil }
            let roundTrip = Duration.nanoseconds((now - sent).nanoseconds)
            state.statistics.roundTrip = roundTrip
            guard let waiter else { return nil }
            return (waiter, roundTrip)
        }
        if let (waiter, roundTrip) = answered { waiter(.success(roundTrip)) }
    }

    /// The channel's writability changed: while the socket is full, our
    /// outbound buffer holds what waits (bounded), not NIO's.
    func writabilityChanged(_ writable: Bool, on channel: any Channel) {
        let flush = state.withLock { state -> Bool in
            guard case .connected(let current, _) = state.phase, current === channel else { return false }
            state.writable = writable
            return writable && state.outbound.readableBytes > 0
        }
        if flush { flushOutbound() }
    }

    /// The parser gave up on the stream: count it; the handler closes.
    func protocolViolation(_ error: NATSProtocolError) {
        state.withLock { state in
            state.lastError = "\(error)"
            state.statistics.errors += 1
        }
        logger.error("NATS protocol error", metadata: ["error": "\(error)"])
    }
}

extension NATSConnection {
    /// A socket or TLS error; the close that follows does the rest.
    func noteError(_ text: String) {
        state.withLock { $0.lastError = text }
    }
}
