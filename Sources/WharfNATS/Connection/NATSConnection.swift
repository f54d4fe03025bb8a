import DequeModule
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One client connection to a NATS cluster: publish, subscribe,
/// request/reply, and reconnect across the cluster's servers with the
/// subscriptions re-made.
///
/// Thread-safe. All I/O happens on `eventLoop`; callers on any thread
/// append to one outbound buffer under a short lock, and the first append
/// after a flush schedules one hop to the loop that writes everything
/// waiting: a batch of publishes costs one hop and one write, not one per
/// message. Subscription handlers and request callbacks run on `eventLoop`.
public final class NATSConnection: Sendable {
    public typealias MessageHandler = @Sendable (NATSMessage) -> Void
    public typealias ReplyHandler = @Sendable (Result<NATSMessage, NATSError>) -> Void

    /// The subscription that receives every reply to our requests.
    static let inboxSID: UInt64 = 1

    public let eventLoop: any EventLoop
    let options: NATSConnectionOptions
    let logger: Logger
    let tlsContext: NIOSSLContext?
    /// `<inboxPrefix>.<random>.`: replies to our requests arrive below it.
    let inbox: String
    let state: Mutex<State>
    let statusHandler: (@Sendable (NATSConnectionStatus) -> Void)?
    let firstConnect: EventLoopPromise<Void>

    struct Subscription {
        var subject: String
        var queue: String?
        var handler: MessageHandler
        /// Messages delivered so far.
        var delivered = 0
        /// From an UNSUB with a maximum: the subscription ends after that
        /// many messages in all (the protocol's meaning), here as on the server.
        var maximum: Int?
    }

    enum Phase {
        case idle
        /// A socket is open, the handshake (INFO, CONNECT, PING -> PONG) runs.
        case handshaking(any Channel, NATSServerAddress)
        case connected(any Channel, NATSServerAddress)
        /// Between attempts.
        case waiting
        case closed
    }

    struct State {
        var phase = Phase.idle
        var status = NATSConnectionStatus.connecting
        var pool: NATSServerPool
        var everConnected = false
        /// Numbers connect attempts, so a late callback of an abandoned one
        /// changes nothing.
        var attempt: UInt64 = 0
        /// Attempts failed since the last success: a full pass over the
        /// pool waits `reconnectWait`; `maxConnectRounds` passes end the first connect.
        var failedAttempts = 0
        var handshakeDeadline = NIODeadline.distantFuture
        var outbound: ByteBuffer
        var flushScheduled = false
        var writable = true
        var subscriptions: [UInt64: Subscription] = [:]
        var nextSID: UInt64 = 2  // 1 is the inbox
        var requests = NATSRequestTable<ReplyHandler>()
        /// Waiters for the PONGs of our PINGs, in order (nil for keep-alive).
        var pongWaiters = Deque<(sent: NIODeadline, waiter: (@Sendable (Result<Duration, NATSError>) -> Void)?)>()
        var serverInfo: NATSServerInfo?
        var statistics = NATSConnectionStatistics()
        var lastError = "none"
        var timer: RepeatedTask?
        var lastPing = NIODeadline.now()
        /// When the handshake's PING went out: its PONG gives the first round trip.
        var handshakePingAt = NIODeadline.now()
        /// Numbers the sub-inboxes `newInbox()` hands out.
        var inboxCounter: UInt64 = 0
    }

    /// Starts connecting at once; `waitUntilConnected()` waits for the
    /// first success. `onStatus` is told of every status change (on the loop).
    public init(
        options: NATSConnectionOptions, eventLoop: any EventLoop, logger: Logger = Logger(label: "wharf.nats"),
        onStatus: (@Sendable (NATSConnectionStatus) -> Void)? = nil
    ) throws {
        self.options = options
        self.eventLoop = eventLoop
        self.logger = logger
        self.statusHandler = onStatus
        if let tls = options.tls {
            tlsContext = try NIOSSLContext(configuration: tls)
        } else if options.servers.contains(where: \.tls) {
            tlsContext = try NIOSSLContext(configuration: .makeClientConfiguration())
        } else {
            tlsContext = nil
        }
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        let token = String(decoding: (0..<22).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }, as: UTF8.self)
        inbox = "\(options.inboxPrefix).\(token)."
        firstConnect = eventLoop.makePromise()
        state = Mutex(
            State(
                pool: NATSServerPool(options.servers, shuffle: options.shuffleServers),
                outbound: ByteBufferAllocator().buffer(capacity: 16 * 1024)))
        eventLoop.execute { self.start() }
    }

    /// Waits for the first connection; fails when `maxConnectRounds` passed
    /// without one, or on close.
    public func waitUntilConnected() async throws {
        try await firstConnect.futureResult.get()
    }

    public var status: NATSConnectionStatus { state.withLock { $0.status } }
    public var serverInfo: NATSServerInfo? { state.withLock { $0.serverInfo } }

    public var statistics: NATSConnectionStatistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.pendingRequests = state.requests.count
            statistics.subscriptions = state.subscriptions.count
            statistics.lastError = state.lastError == "none" ? nil : state.lastError
            return statistics
        }
    }

    // MARK: Publishing

    /// Queues a message; it goes out with the rest of the batch. Fails only
    /// when too much is waiting (no server, or one that does not read).
    public func publish(
        _ subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer = ByteBuffer()
    ) throws(NATSError) {
        try enqueue { (buffer) throws(NATSError) in
            do throws(NATSProtocolError) {
                try buffer.writeNATSPublish(subject: subject, replyTo: replyTo, headers: headers, payload: payload)
            } catch {
                throw .protocolError(error)
            }
        }
    }

    /// `publish` with the payload written straight into the outbound buffer
    /// by `write`, which must write exactly `payloadCount` bytes: no buffer
    /// of its own for a payload built per message (a forward's envelope).
    public func publish(
        _ subject: String, payloadCount: Int, writingPayload write: (inout ByteBuffer) -> Void
    ) throws(NATSError) {
        try enqueue { (buffer) throws(NATSError) in
            do throws(NATSProtocolError) {
                try NATSSubject.checkPublishable(subject)
            } catch {
                throw .protocolError(error)
            }
            buffer.writeNATSPublishHeader(subject: subject, payloadCount: payloadCount)
            let start = buffer.writerIndex
            write(&buffer)
            precondition(buffer.writerIndex - start == payloadCount, "payload writer wrote another length than announced")
            buffer.writeStaticString("\r\n")
        }
    }

    /// Appends to the outbound buffer under the lock and, when this is the
    /// first append since the last write, schedules the write.
    func enqueue(_ write: (inout ByteBuffer) throws(NATSError) -> Void) throws(NATSError) {
        try enqueueRegistering({ (state: inout State) throws(NATSError) in try write(&state.outbound) })
    }

    /// `enqueue` with the whole state in hand, for writes that register
    /// something under the same lock (a request's reply handler).
    func enqueueRegistering(_ write: (inout State) throws(NATSError) -> Void) throws(NATSError) {
        let scheduleFlush = try state.withLock { (state) throws(NATSError) -> Bool in
            let connected: Bool
            switch state.phase {
            case .closed: throw .closed
            case .connected: connected = true
            default: connected = false
            }
            let limit = connected ? options.maxPendingBytes : options.reconnectBufferSize
            guard state.outbound.readableBytes < limit else { throw .outboundBufferFull(limit: limit) }
            let before = state.outbound.writerIndex
            do throws(NATSError) {
                try write(&state)
            } catch {
                state.outbound.moveWriterIndex(to: before)
                throw error
            }
            state.statistics.messagesOut += 1
            state.statistics.bytesOut += state.outbound.writerIndex - before
            guard connected, state.writable, !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if scheduleFlush { eventLoop.execute { self.flushOutbound() } }
    }

    /// Writes everything waiting (on the loop).
    func flushOutbound() {
        let write = state.withLock { state -> (any Channel, ByteBuffer)? in
            state.flushScheduled = false
            guard case .connected(let channel, _) = state.phase, state.writable, state.outbound.readableBytes > 0 else {
                return nil
            }
            let bytes = state.outbound
            state.outbound = channel.allocator.buffer(capacity: max(16 * 1024, bytes.readableBytes))
            state.requests.markWritten()
            return (channel, bytes)
        }
        if let (channel, bytes) = write { channel.writeAndFlush(bytes, promise: nil) }
    }

    // MARK: Subscribing

    /// Subscribes; `handler` runs on `eventLoop` for each message.
    public func subscribe(_ subject: String, queue: String? = nil, handler: @escaping MessageHandler) throws(NATSError)
        -> NATSSubscription
    {
        do throws(NATSProtocolError) {
            try NATSSubject.checkFilter(subject)
            if let queue { try NATSSubject.checkToken(queue) }
        } catch {
            throw .protocolError(error)
        }
        let sid = try state.withLock { (state) throws(NATSError) -> UInt64 in
            if case .closed = state.phase { throw .closed }
            let sid = state.nextSID
            state.nextSID += 1
            state.subscriptions[sid] = Subscription(subject: subject, queue: queue, handler: handler)
            return sid
        }
        // While not connected the SUB is not queued: the handshake sends
        // every live subscription.
        try enqueueIfConnected { (buffer) throws(NATSError) in
            do throws(NATSProtocolError) {
                try buffer.writeNATSSubscribe(subject: subject, queue: queue, sid: sid)
            } catch {
                throw .protocolError(error)
            }
        }
        return NATSSubscription(sid: sid, subject: subject, connection: self)
    }

    /// Ends a subscription now, or once it has had `max` messages in all
    /// (UNSUB's meaning; a request with one reply uses 1).
    public func unsubscribe(_ subscription: NATSSubscription, after max: Int? = nil) {
        let sid = subscription.sid
        let live = state.withLock { state -> Bool in
            guard let existing = state.subscriptions[sid] else { return false }
            if let max, max > existing.delivered {
                state.subscriptions[sid]?.maximum = max
            } else {
                state.subscriptions[sid] = nil
            }
            return true
        }
        guard live else { return }
        try? enqueueIfConnected { buffer in buffer.writeNATSUnsubscribe(sid: sid, max: max) }
    }

    private func enqueueIfConnected(_ write: (inout ByteBuffer) throws(NATSError) -> Void) throws(NATSError) {
        let connected = state.withLock { state in
            if case .connected = state.phase { return true }
            return false
        }
        if connected { try enqueue(write) }
    }

    // MARK: Round trips

    /// Sends a PING and waits for its PONG: everything written before has
    /// reached the server. Returns the round trip.
    public func flush(timeout: Duration = .seconds(5)) async throws(NATSError) -> Duration {
        let result: Result<Duration, NATSError> = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            do throws(NATSError) {
                try enqueueIfConnectedOrFail { buffer in
                    buffer.writeNATSPing()
                } registering: { state in
                    state.pongWaiters.append((NIODeadline.now(), { once.resume($0) }))
                }
            } catch {
                once.resume(.failure(error))
                return
            }
            eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) { once.resume(.failure(.timeout)) }
        }
        return try result.get()
    }

    private func enqueueIfConnectedOrFail(
        _ write: (inout ByteBuffer) -> Void, registering register: (inout State) -> Void
    ) throws(NATSError) {
        let scheduleFlush = try state.withLock { (state) throws(NATSError) -> Bool in
            guard case .connected = state.phase else {
                if case .closed = state.phase { throw .closed }
                throw .connectionLost
            }
            write(&state.outbound)
            register(&state)
            guard state.writable, !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if scheduleFlush { eventLoop.execute { self.flushOutbound() } }
    }

    /// Flow control: stop (or start again) reading from the server, so what
    /// it sends waits in its buffers, not ours. Call on `eventLoop`. A
    /// reconnect reads again (the server's buffers for the old socket are gone).
    public func setReading(_ reading: Bool) {
        eventLoop.preconditionInEventLoop()
        let channel = state.withLock { state -> (any Channel)? in
            if case .connected(let channel, _) = state.phase { return channel }
            return nil
        }
        channel?.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    /// Closes the connection for good: pending requests fail with `.closed`.
    public func close() async {
        if let channel = shutDown(failingWith: .closed) { try? await channel.close() }
    }

    /// Marks the connection closed and fails everything waiting; returns the
    /// channel to close.
    func shutDown(failingWith error: NATSError) -> (any Channel)? {
        let (channel, waiters, pongs) = state.withLock {
            state -> ((any Channel)?, [ReplyHandler], [(@Sendable (Result<Duration, NATSError>) -> Void)]) in
            var channel: (any Channel)?
            switch state.phase {
            case .handshaking(let open, _), .connected(let open, _): channel = open
            default: break
            }
            state.phase = .closed
            state.status = .closed
            state.timer?.cancel()
            state.timer = nil
            let pongs = state.pongWaiters.compactMap(\.waiter)
            state.pongWaiters.removeAll()
            return (channel, state.requests.removeAll(), pongs)
        }
        for waiter in waiters { waiter(.failure(.closed)) }
        for waiter in pongs { waiter(.failure(.closed)) }
        firstConnect.fail(error)
        statusHandler?(.closed)
        return channel
    }
}

/// A live subscription; `unsubscribe()` ends it.
public struct NATSSubscription: Sendable, Hashable {
    public let sid: UInt64
    public let subject: String
    let connection: NATSConnection

    public func unsubscribe(after max: Int? = nil) { connection.unsubscribe(self, after: max) }

    public static func == (lhs: NATSSubscription, rhs: NATSSubscription) -> Bool {
        lhs.sid == rhs.sid && lhs.connection === rhs.connection
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(sid) }
}

/// Resumes a continuation once, whichever of reply, timeout or close comes first.
final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) { self.continuation = Mutex(continuation) }

    func resume(_ value: Value) {
        let continuation = self.continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        continuation?.resume(returning: value)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
