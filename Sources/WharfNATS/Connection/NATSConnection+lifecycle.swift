import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Connecting, the handshake, losing a server and finding another.
extension NATSConnection {
    /// On the loop, once: the housekeeping timer and the first attempt.
    func start() {
        let timer = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { _ in
            self.tick()
        }
        let closed = state.withLock { state -> Bool in
            if case .closed = state.phase { return true }
            state.timer = timer
            state.phase = .waiting
            return false
        }
        if closed { timer.cancel() } else { connectNext() }
    }

    /// Tries the next server of the pool, at once or after `reconnectWait`
    /// when a whole pass over the pool has failed.
    func connectNext() {
        enum Decision {
            case connect(NATSServerAddress, attempt: UInt64, delay: TimeAmount)
            case giveUp(String)
            case nothing
        }
        let decision = state.withLock { state -> Decision in
            guard state.isWaiting, let (address, _) = state.pool.next() else { return .nothing }
            let poolSize = max(1, state.pool.entries.count)
            var delay = TimeAmount.zero
            if state.failedAttempts > 0, state.failedAttempts % poolSize == 0 {
                let rounds = state.failedAttempts / poolSize
                if !state.everConnected, let limit = options.maxConnectRounds, rounds >= limit {
                    return .giveUp(state.lastError)
                }
                let jitter = Int64.random(in: 0...max(0, options.reconnectJitter.nanoseconds))
                delay = .nanoseconds(options.reconnectWait.nanoseconds + jitter)
            }
            state.attempt += 1
            return .connect(address, attempt: state.attempt, delay: delay)
        }
        switch decision {
        case .nothing:
            return
        case .giveUp(let lastError):
            logger.error("no NATS server reachable", metadata: ["last_error": "\(lastError)"])
            let error = NATSError.noServerAvailable(lastError: lastError)
            shutDown(failingWith: error)?.close(promise: nil)
        case .connect(let address, let attempt, let delay):
            if delay == .zero {
                connect(to: address, attempt: attempt)
            } else {
                eventLoop.scheduleTask(in: delay) { self.connect(to: address, attempt: attempt) }
            }
        }
    }

    private func connect(to address: NATSServerAddress, attempt: UInt64) {
        guard state.withLock({ $0.attempt == attempt && $0.isWaiting }) else { return }
        logger.debug("connecting to NATS", metadata: ["server": "\(address)"])
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(options.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NATSChannelHandler(connection: self))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let adopted = self.state.withLock { state -> Bool in
                        guard state.attempt == attempt, state.isWaiting else { return false }
                        state.phase = .handshaking(channel, address)
                        state.handshakeDeadline = .now() + .nanoseconds(self.options.connectTimeout.nanoseconds)
                        return true
                    }
                    if !adopted { channel.close(promise: nil) }
                case .failure(let error):
                    self.attemptFailed(address, attempt: attempt, reason: "\(error)")
                }
            }
    }

    private func attemptFailed(_ address: NATSServerAddress, attempt: UInt64, reason: String) {
        let retry = state.withLock { state -> Bool in
            guard state.attempt == attempt, state.isWaiting || state.isHandshaking else { return false }
            state.phase = .waiting
            state.pool.failed(address)
            state.failedAttempts += 1
            state.lastError = "\(address): \(reason)"
            return true
        }
        if retry {
            logger.debug("NATS connect failed", metadata: ["server": "\(address)", "reason": "\(reason)"])
            connectNext()
        }
    }

    /// INFO arrived. During the handshake: TLS if wanted, then CONNECT and
    /// a PING whose PONG says the server accepted us.
    func received(info: NATSServerInfo, on channel: any Channel) {
        let handshake = state.withLock { state -> NATSServerAddress? in
            state.serverInfo = info
            if let urls = info.connectURLs { state.pool.merge(connectURLs: urls, tls: tlsContext != nil) }
            if case .handshaking(let current, let address) = state.phase, current === channel { return address }
            return nil
        }
        if info.lameDuckMode == true {
            logger.info("NATS server entering lame-duck mode", metadata: ["server": "\(info.serverName ?? info.serverID)"])
        }
        guard let address = handshake else { return }
        do {
            if tlsContext != nil || info.tlsRequired == true {
                let context = try tlsContext ?? NIOSSLContext(configuration: .makeClientConfiguration())
                let hostname = address.host.isIPAddress ? nil : address.host
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: context, serverHostname: hostname), position: .first)
            }
            var buffer = channel.allocator.buffer(capacity: 512)
            buffer.writeNATSConnect(json: try connectJSON(address: address, tls: tlsContext != nil || info.tlsRequired == true))
            buffer.writeNATSPing()
            state.withLock { $0.handshakePingAt = .now() }
            channel.writeAndFlush(buffer, promise: nil)
        } catch {
            state.withLock { $0.lastError = "\(address): \(error)" }
            channel.close(promise: nil)
        }
    }

    private func connectJSON(address: NATSServerAddress, tls: Bool) throws -> String {
        struct Connect: Encodable {
            var verbose = false
            var pedantic = false
            var tls_required: Bool
            var name: String
            var lang = "swift"
            var version = "wharf"
            var `protocol` = 1
            var echo: Bool
            var headers = true
            var no_responders = true
            var user: String?
            var pass: String?
            var auth_token: String?
        }
        let connect = Connect(
            tls_required: tls, name: options.name, echo: options.echo, user: options.user ?? address.user,
            pass: options.password ?? address.password, auth_token: options.token)
        return String(decoding: try JSONEncoder().encode(connect), as: UTF8.self)
    }

    /// The handshake's PONG: we are in. Subscriptions are made again and
    /// what waited goes out, in that order.
    func handshakeCompleted(on channel: any Channel) {
        let outcome = state.withLock { state -> (NATSServerAddress, Bool, ByteBuffer)? in
            guard case .handshaking(let current, let address) = state.phase, current === channel else { return nil }
            state.phase = .connected(channel, address)
            state.status = .connected(address)
            state.pool.connected(address)
            state.failedAttempts = 0
            let reconnected = state.everConnected
            if reconnected { state.statistics.reconnects += 1 }
            state.everConnected = true
            state.lastPing = .now()
            state.statistics.roundTrip = .nanoseconds((NIODeadline.now() - state.handshakePingAt).nanoseconds)
            var buffer = channel.allocator.buffer(capacity: 256 + state.outbound.readableBytes)
            try? buffer.writeNATSSubscribe(subject: inbox + "*", sid: Self.inboxSID)
            for (sid, subscription) in state.subscriptions.sorted(by: { $0.key < $1.key }) {
                try? buffer.writeNATSSubscribe(subject: subscription.subject, queue: subscription.queue, sid: sid)
                if let maximum = subscription.maximum { buffer.writeNATSUnsubscribe(sid: sid, max: maximum) }
            }
            buffer.writeBuffer(&state.outbound)
            state.outbound.clear()
            state.requests.markWritten()
            return (address, reconnected, buffer)
        }
        guard let (address, reconnected, buffer) = outcome else { return }
        // Written outside the lock: a write past the channel's high-water
        // mark tells `writabilityChanged` at once, on this thread, and that
        // takes the lock (a node crashed on "Recursive call to lock Mutex"
        // reconnecting with a backlog). On the loop, so nothing written from
        // elsewhere goes before the subscriptions.
        channel.writeAndFlush(buffer, promise: nil)
        logger.info(reconnected ? "reconnected to NATS" : "connected to NATS", metadata: ["server": "\(address)"])
        statusHandler?(.connected(address))
        firstConnect.succeed()
    }

    /// The socket closed: a lost connection (requests already written fail
    /// with `.connectionLost`, the rest wait for the next server) or a
    /// failed attempt.
    func channelClosed(_ channel: any Channel) {
        enum Outcome {
            case lost(reason: String, requests: [ReplyHandler], pongs: [@Sendable (Result<Duration, NATSError>) -> Void])
            case attemptFailed
            case nothing
        }
        let outcome = state.withLock { state -> Outcome in
            switch state.phase {
            case .connected(let current, let address) where current === channel:
                state.phase = .waiting
                let reason = "lost \(address): \(state.lastError)"
                state.status = .reconnecting(reason: reason)
                state.writable = true
                state.flushScheduled = false
                let pongs = state.pongWaiters.compactMap(\.waiter)
                state.pongWaiters.removeAll()
                return .lost(reason: reason, requests: state.requests.connectionLost(), pongs: pongs)
            case .handshaking(let current, let address) where current === channel:
                state.phase = .waiting
                state.pool.failed(address)
                state.failedAttempts += 1
                return .attemptFailed
            default:
                return .nothing
            }
        }
        switch outcome {
        case .nothing:
            return
        case .attemptFailed:
            connectNext()
        case .lost(let reason, let requests, let pongs):
            logger.warning("NATS connection lost", metadata: ["reason": "\(reason)"])
            statusHandler?(.reconnecting(reason: reason))
            for waiter in requests { waiter(.failure(.connectionLost)) }
            for waiter in pongs { waiter(.failure(.connectionLost)) }
            connectNext()
        }
    }

    /// Every 50 ms on the loop: expired requests, the keep-alive PING, a
    /// handshake that takes too long.
    func tick() {
        let now = NIODeadline.now()
        let (expired, stale, ping) = state.withLock { state -> ([ReplyHandler], (any Channel)?, Bool) in
            let expired = state.requests.expire(now: now)
            switch state.phase {
            case .handshaking(let channel, _) where now > state.handshakeDeadline:
                state.lastError = "handshake timed out"
                return (expired, channel, false)
            case .connected(let channel, _) where now - state.lastPing >= .nanoseconds(options.pingInterval.nanoseconds):
                state.lastPing = now
                let outstanding = state.pongWaiters.count
                if outstanding >= options.maxPingsOutstanding {
                    state.lastError = "stale connection (\(outstanding) PINGs unanswered)"
                    return (expired, channel, false)
                }
                // Through the outbound buffer, so PONGs come back in the
                // order `pongWaiters` expects.
                state.outbound.writeNATSPing()
                state.pongWaiters.append((now, nil))
                return (expired, nil, true)
            default:
                return (expired, nil, false)
            }
        }
        for waiter in expired { waiter(.failure(.timeout)) }
        stale?.close(promise: nil)
        if ping { flushOutbound() }
    }
}

extension NATSConnection.State {
    var isWaiting: Bool {
        if case .waiting = phase { return true }
        return false
    }

    var isHandshaking: Bool {
        if case .handshaking = phase { return true }
        return false
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
