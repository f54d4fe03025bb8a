import NIOCore
import Synchronization

/// Keeps messages flowing from a pull consumer: pull requests on a private
/// inbox, refilled before they run dry, with idle heartbeats so a lost
/// server or a lost request shows within two heartbeats and is re-made.
///
/// What is still owed is counted in messages, not per request: every
/// message asked for either arrives or is returned as pending by the status
/// that ends its request (408 on expiry, 409, with `Nats-Pending-Messages`),
/// so the count is exact whichever request the server served (it serves
/// waiting requests in turn, not one after another). A request the server
/// never saw (sent as its leader changed, or before a reconnect) leaves no
/// trace but silence: no heartbeat for two intervals, and the count is
/// dropped and asked for again.
///
/// The handler runs on the connection's loop for each message (with its
/// metadata from the ack subject); acknowledging is the caller's, through
/// `JetStream.acknowledge`. `credit` bounds what is requested at once, so a
/// caller with a window (a group's members) pulls only what it can send.
public final class JetStreamPullConsumer: Sendable {
    public typealias Handler = @Sendable (NATSMessage, JetStreamMessageMetadata) -> Void

    public struct Options: Sendable {
        /// Messages requested at most at once.
        public var batch = 256
        /// How long the server keeps a pull open.
        public var expires: Duration = .seconds(30)
        /// The server's sign of life while a pull waits.
        public var idleHeartbeat: Duration = .seconds(5)

        public init(batch: Int = 256, expires: Duration = .seconds(30), idleHeartbeat: Duration = .seconds(5)) {
            self.batch = batch
            self.expires = expires
            self.idleHeartbeat = idleHeartbeat
        }
    }

    public let stream: String
    public let consumer: String
    let jetStream: JetStream
    let options: Options
    let handler: Handler
    let onProblem: (@Sendable (String) -> Void)?
    private let inbox: String
    private let state = Mutex(State())

    private struct State {
        /// Messages asked for that have neither arrived nor been given up.
        var requested = 0
        var credit = Int.max
        var subscription: NATSSubscription?
        var timer: RepeatedTask?
        var lastActivity = NIODeadline.now()
        var stopped = false
        var delivered = 0
    }

    /// `credit`: what the caller can take at first (`setCredit` changes it);
    /// no limit but the batch by default.
    public init(
        jetStream: JetStream, stream: String, consumer: String, options: Options = Options(), credit: Int = .max,
        onProblem: (@Sendable (String) -> Void)? = nil, handler: @escaping Handler
    ) {
        self.jetStream = jetStream
        self.stream = stream
        self.consumer = consumer
        self.options = options
        self.handler = handler
        self.onProblem = onProblem
        inbox = jetStream.connection.newInbox()
        state.withLock { $0.credit = max(0, credit) }
    }

    /// Subscribes to the inbox and sends the first pull.
    public func start() throws(NATSError) {
        let subscription = try jetStream.connection.subscribe(inbox) { [self] message in received(message) }
        let heartbeat = options.idleHeartbeat
        let timer = jetStream.connection.eventLoop.scheduleRepeatedTask(
            initialDelay: .nanoseconds(heartbeat.nanoseconds), delay: .nanoseconds(heartbeat.nanoseconds)
        ) { [self] _ in watchdog() }
        state.withLock { state in
            state.subscription = subscription
            state.timer = timer
            state.lastActivity = .now()
        }
        refill()
    }

    public func stop() {
        let (subscription, timer) = state.withLock { state in
            state.stopped = true
            defer {
                state.subscription = nil
                state.timer = nil
            }
            return (state.subscription, state.timer)
        }
        subscription?.unsubscribe()
        timer?.cancel()
    }

    /// How many more messages the caller can take; pulls never ask for more.
    /// Raising it pulls at once.
    public func setCredit(_ credit: Int) {
        state.withLock { $0.credit = max(0, credit) }
        refill()
    }

    /// Messages delivered to the handler so far.
    public var delivered: Int { state.withLock { $0.delivered } }

    private func received(_ message: NATSMessage) {
        if let status = message.status {
            receivedStatus(status, message)
            return
        }
        guard let metadata = message.replyTo.flatMap(JetStreamMessageMetadata.init(replySubject:)) else { return }
        state.withLock { state in
            state.lastActivity = .now()
            state.delivered += 1
            if state.credit != Int.max { state.credit = max(0, state.credit - 1) }
            state.requested = max(0, state.requested - 1)
        }
        handler(message, metadata)
        refill()
    }

    private func receivedStatus(_ status: Int, _ message: NATSMessage) {
        switch status {
        case 100:
            // Idle heartbeat: the pull is alive.
            state.withLock { $0.lastActivity = .now() }
        case 404, 408:
            // No messages / the pull expired: what it still owed is not coming.
            let pending = Self.pendingMessages(message)
            state.withLock { state in
                state.lastActivity = .now()
                state.requested = pending.map { max(0, state.requested - $0) } ?? 0
            }
            refill()
        default:
            // 409: consumer deleted, leadership change, past max_waiting...
            // What that request owed is not coming; the watchdog asks again.
            let text = "\(status) \(message.headers?.statusDescription ?? "")"
            let pending = Self.pendingMessages(message)
            state.withLock { state in state.requested = pending.map { max(0, state.requested - $0) } ?? 0 }
            onProblem?("pull from \(stream)/\(consumer): \(text)")
        }
    }

    /// What a request's ending status says it had still to deliver (nil: it
    /// did not say; then nothing asked for is taken to be coming).
    private static func pendingMessages(_ message: NATSMessage) -> Int? {
        message.headers?["Nats-Pending-Messages"].flatMap { Int($0) }.map { max(0, $0) }
    }

    /// Asks for more once what is outstanding falls to half a batch.
    private func refill() {
        let wanted = state.withLock { state -> Int in
            guard !state.stopped else { return 0 }
            let requested = state.requested
            let allowed = min(options.batch, state.credit)
            guard requested <= allowed / 2 else { return 0 }
            let wanted = allowed - requested
            guard wanted > 0 else { return 0 }
            state.requested += wanted
            return wanted
        }
        guard wanted > 0 else { return }
        let request = PullRequest(batch: wanted, expires: options.expires, idleHeartbeat: options.idleHeartbeat)
        do {
            var payload = ByteBuffer()
            payload.writeBytes(try JetStreamRequest.encode(request))
            try jetStream.connection.publish(jetStream.api.consumerNext(stream, consumer: consumer), replyTo: inbox, payload: payload)
        } catch {
            // Not sent: forget it; the watchdog tries again.
            state.withLock { state in state.requested = max(0, state.requested - wanted) }
        }
    }

    /// Every heartbeat: requests gone silent (their server or our
    /// connection was lost, or the server never saw them) are forgotten and
    /// asked for again.
    private func watchdog() {
        let now = NIODeadline.now()
        let silent = TimeAmount.nanoseconds(2 * options.idleHeartbeat.nanoseconds + 500_000_000)
        let lost = state.withLock { state -> Bool in
            guard !state.stopped, state.requested > 0, now - state.lastActivity > silent else { return false }
            state.requested = 0
            state.lastActivity = now
            return true
        }
        if lost { onProblem?("pull from \(stream)/\(consumer): no heartbeat; pulling again") }
        refill()
    }
}

extension NATSConnection {
    /// A fresh subject below this connection's inbox prefix, for a
    /// subscription of its own (a pull consumer's, a watcher's).
    public func newInbox() -> String {
        let number = state.withLock { state -> UInt64 in
            state.inboxCounter += 1
            return state.inboxCounter
        }
        // `_INBOX.<random>_<n>`: outside the request inbox `_INBOX.<random>.*`,
        // so its messages are not delivered to that subscription too.
        return "\(inbox.dropLast())_\(number)"
    }
}
