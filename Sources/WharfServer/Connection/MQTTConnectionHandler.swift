import DequeModule
import Logging
import NIOCore
import WharfCore
import WharfMQTT

/// One client connection: applies the protocol rules to decoded packets,
/// calls the broker core, and writes replies and deliveries.
///
/// Everything here runs on the channel's event loop. Replies and deliveries
/// are appended to one outbound buffer and flushed once per read batch (or
/// once per delivery drain outside a read), not once per packet.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundPacketBatch
    typealias OutboundOut = ByteBuffer

    /// Payloads above this are written as their own buffer instead of being
    /// appended to the batch, so large messages are never copied in memory.
    static let separateWriteThreshold = 16 * 1024

    let broker: Broker
    let limiter: ConnectionLimiter
    /// Checks CONNECT when no `security` is given (tests).
    let authenticator: Authenticator
    /// The password file in force (re-read on SIGHUP); nil in tests.
    let security: SecurityFiles?
    let loopClocks: LoopClocks?
    /// The listener it was accepted on; nil for connections made in tests.
    let listener: ListenerStatistics?
    let clientLimits: ClientLimits
    /// Failed logins per address (see `LoginThrottle`); nil: refused at once.
    let loginThrottle: SharedLoginThrottle?
    /// A failed login's refusal waits for its delay.
    var refusalPending = false
    /// Cluster mode: CONNECT waits for the cluster's claim of its session,
    /// and what the client sent after it waits here (at most one read's
    /// worth: reading stops meanwhile).
    var claimPending = false
    var heldInbound: [InboundPacket] = []
    /// Cluster mode: the epoch the cluster gave this connection's session
    /// (nil: not claimed in the cluster).
    var clusterEpoch: UInt64?
    /// Cluster mode: a new inbound QoS 2 PUBLISH waits for the session's
    /// record to hold its exchange, and what was read after it waits in
    /// `heldInbound` (see +exchanges). `exchangeSerial` numbers them.
    var exchangePending = false
    var exchangeSerial: UInt64 = 0
    /// New QoS 2 PUBLISHes held behind another one whose exchanges went
    /// into the record with its: routed without a write of their own.
    var prerecorded: [UInt16: InboundExchange] = [:]
    /// Exchanges the record held at CONNECT whose first node died before
    /// routing them in full: routed again when the client sends them again.
    var unroutedExchanges: [UInt16: InboundExchange] = [:]
    /// A connection to another node took the session over.
    var movedToAnotherNode = false
    /// Closing because the cluster took the session away: output still
    /// waiting for its records is dropped, not waited for (see
    /// `releasedByCluster`).
    var abandonHeldOutput = false
    /// The client's publish rate against `clientLimits`; nil when unlimited.
    var publishRate: PublishRateLimit?
    var logger: Logger

    var protocolState = ConnectionStateMachine()
    /// What CONNECT settled (see `NegotiatedOptions`).
    var options = NegotiatedOptions()
    var version: ProtocolVersion {
        get { options.version }
        set { options.version = newValue }
    }
    var clientMaximumPacketSize: Int { options.clientMaximumPacketSize }
    var requestProblemInformation: Bool { options.requestProblemInformation }
    var session: Session?
    var deliveryTarget: ConnectionDeliveryTarget?
    /// The will, as the message it becomes (its own copy of the payload).
    var will: Message?
    var aliases = TopicAliases(inboundMaximum: 0, outboundMaximum: 0)
    /// Reused per 5.0 delivery for its properties: no allocation per message.
    var propertyScratch = ByteBuffer()
    /// DISCONNECT received: no will (3.1.1 section 3.14.4).
    var disconnectedCleanly = false
    /// Pending from accept, connected from CONNECT (see `ConnectionLimiter`).
    var slot = ConnectionLimiter.Slot.none
    var isClosing = false
    /// The user name authorization sees: CONNECT's, or the client
    /// certificate's identity (`use_identity_as_username`).
    var username: String?
    /// What the ACL allows this client (`[auth] acl_file`); nil without one.
    var authorization: ClientAuthorization?
    /// The last topic published and whether the ACL allowed it.
    var lastPublishCheck: (topic: String, generation: Int, allowed: Bool)?
    /// Denials logged so far (see `authorizationDenied`).
    var loggedDenials = Set<String>()
    /// Closed with a reason the client must be able to read (see `finishClose`).
    var lingerOnClose = false
    var lingerTimer: Scheduled<Void>?
    /// `endConnection` ran.
    var ended = false
    /// `start` ran: once, from handlerAdded or channelActive.
    var started = false

    var context: ChannelHandlerContext?
    var outbound: ByteBuffer
    var readBatchActive = false
    var drainAfterReadBatch = false
    var drainWhenWritable = false
    /// Paused as a publisher by flow control, and what arrived meanwhile (see +flowControl).
    var publisherPause = PublisherPause()
    var pauseTimer: Scheduled<Void>?
    /// Reused per drain and per publish: no allocation per message.
    var packetScratch: [OutboundPacket] = []
    /// The route of this connection's last published topic (see `RouteCache`).
    var routes = RouteCache()
    /// Publish times of the messages written and acknowledged in this batch;
    /// recorded as latency once per flush, under one lock.
    var deliveredPublishTimes: [UInt64] = []
    var acknowledgedPublishTimes: [UInt64] = []
    /// Topics and payload sizes published in this batch, for per-topic figures.
    var publishedTopics: [TopicStatistics.Published] = []
    /// Publishes repeating the last entry's topic, not yet added to it.
    var topicRun = (messages: 0, bytes: 0)
    /// The batch's first publish, offered as its topic's payload preview.
    var payloadSample: (topic: String, payload: ByteBuffer)?
    /// This connection's event loop's shard of `broker.latency`.
    var latencyShard = 0
    /// Packets, bytes and deliveries since the last flush (see `TrafficBatch`).
    var traffic = TrafficBatch()
    /// Acknowledged consumer-group messages of this read batch, reported to
    /// their groups once at the end of it (one group lock per batch).
    var groupAcknowledgements: [(ConsumerGroup, Message)] = []
    /// Set at CONNECT: the client as the snapshot's Clients list shows it.
    var clientInfo: ClientInfo?
    /// This read batch's durable effects, committed at flush (see `BrokerJournal`).
    let journal: any JournalWriter
    /// Output waiting for the journal (a PUBACK for a journaled message, a
    /// CONNACK or SUBACK for journaled state), in order.
    var heldReplies = HeldReplies()
    /// Retained messages new subscriptions are still owed, served a slice
    /// per turn of the loop (see `deliverRetainedSlice`).
    var retainedBacklog = RetainedBacklog()
    var retainedSliceScheduled = false
    /// `defaultRetainedSliceNanos`; tests set 0 (one filter a turn).
    let retainedSliceNanos: UInt64

    init(
        broker: Broker, limiter: ConnectionLimiter, authenticator: Authenticator = Authenticator(), security: SecurityFiles? = nil,
        loopClocks: LoopClocks? = nil,
        listener: ListenerStatistics? = nil, clientLimits: ClientLimits = ClientLimits(), loginThrottle: SharedLoginThrottle? = nil,
        retainedSliceNanos: UInt64 = MQTTConnectionHandler.defaultRetainedSliceNanos,
        logger: Logger
    ) {
        self.listener = listener
        self.clientLimits = clientLimits
        self.loginThrottle = loginThrottle
        self.retainedSliceNanos = retainedSliceNanos
        self.broker = broker
        self.limiter = limiter
        self.authenticator = authenticator
        self.security = security
        self.loopClocks = loopClocks
        self.logger = logger
        self.outbound = ByteBuffer()
        self.journal = broker.makeJournalWriter()
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 1024)
        propertyScratch = context.channel.allocator.buffer(capacity: 64)
        latencyShard = broker.latency.shardIndex(for: ObjectIdentifier(context.eventLoop))
        logger[metadataKey: "peer"] = "\(context.channel.remoteAddress?.description ?? "?")"
        // Behind a WebSocket upgrade the channel is active before this
        // handler is added: it starts here instead of in channelActive.
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// The socket is open and this handler in place: counted, and given a
    /// pending slot (see `ConnectionLimiter`).
    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        broker.metrics.connectionOpened()
        let (pending, displaced) = limiter.admit(context.channel)
        slot = pending
        if let displaced {
            // Too many sockets have not sent CONNECT: the oldest of them goes
            // (no CONNACK: it never asked for anything).
            broker.metrics.connectionRejected(.maxPendingConnections)
            logger.debug("closing the oldest of \(limiter.maximumPending) connections that have not sent CONNECT")
            displaced.close(promise: nil)
        }
    }

    /// The packets of one read, handled in order (see `MQTTPacketReader`).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let batch = unwrapInboundIn(data)
        for inbound in batch.packets {
            receive(inbound, context: context)
        }
    }

    func receive(_ inbound: InboundPacket, context: ChannelHandlerContext) {
        // A refused login waiting out its delay reads nothing more.
        if refusalPending { return }
        if claimPending || exchangePending {
            heldInbound.append(inbound)
            return
        }
        traffic.received(inbound.packet.type, bytes: inbound.wireSize)
        readBatchActive = true
        let action: ConnectionStateMachine.Action
        let stateBefore = protocolState.state
        do {
            action = try protocolState.receive(inbound.packet.type)
        } catch {
            // A 5.0 client that was connected (a second CONNECT) is told 0x82.
            let code: UInt8? = stateBefore == .connected(.v5) ? ReasonCode.protocolError : nil
            close(context, because: .protocolError, "\(error)", reasonCode: code, connectedAs: stateBefore)
            return
        }
        switch action {
        case .ignore:
            return
        case .handleConnect:
            guard case .connect(let connect) = inbound.packet else { return }
            handleConnect(connect, context: context)
        case .handlePacket:
            handle(inbound.packet, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readBatchActive = false
        reportGroupAcknowledgements()
        if drainAfterReadBatch {
            drainAfterReadBatch = false
            drain()
        }
        flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && drainWhenWritable {
            drainWhenWritable = false
            drain()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is KeepAliveHandler.Expired {
            if case .connected = protocolState.state {
                close(context, because: .keepAliveTimeout, "no packet within 1.5 x keep-alive")
            } else {
                close(context, because: .connectTimeout, "no CONNECT within the connect timeout")
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let decodeError = error as? MQTTDecodeError {
            broker.metrics.malformedPacket(decodeError)
            if case .unsupportedProtocolVersion(let level) = decodeError, protocolState.state == .awaitingConnect {
                // The one malformed case the spec answers: CONNACK return
                // code 1, or for a level above 5 (a client newer than 5.0)
                // the 5.0 form with 0x84 (5.0 section 3.1.2.2).
                if level > ProtocolVersion.v5.rawValue { version = .v5 }
                writePacket(.connack(ConnAckPacket(sessionPresent: false, returnCode: .unacceptableProtocolVersion)))
                lingerOnClose = true
                broker.metrics.connectionRejected(.unsupportedProtocol)
                close(context, because: nil, "\(decodeError)")
            } else {
                close(context, because: .malformedPacket, "malformed packet: \(decodeError)", reasonCode: decodeError.reasonCode)
            }
            return
        }
        logger.debug("connection error: \(error)")
        close(context, because: nil, "\(error)")
    }

    /// Tells each group which of its messages were acknowledged in this batch.
    func reportGroupAcknowledgements() {
        guard !groupAcknowledgements.isEmpty else { return }
        var start = 0
        while start < groupAcknowledgements.count {
            // Runs of one group (the usual case: a member of one group).
            let group = groupAcknowledgements[start].0
            var end = start + 1
            while end < groupAcknowledgements.count, groupAcknowledgements[end].0 === group { end += 1 }
            group.acknowledged(groupAcknowledgements[start..<end].lazy.map(\.1))
            start = end
        }
        groupAcknowledgements.removeAll(keepingCapacity: true)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        endConnection(context)
        context.fireChannelInactive()
    }

    /// What ends with the connection: its last publishes routed, its
    /// journal committed, its session closed, its will published or
    /// scheduled. Once, when the socket closes or when a linger starts.
    func endConnection(_ context: ChannelHandlerContext) {
        guard !ended else { return }
        ended = true
        reportGroupAcknowledgements()
        // What the client sent before the connection ended is still routed.
        routeDeferredPublishes(ignoringPause: true)
        recordBatchMetrics()
        // What the last packets wrote (acknowledgements, routed messages) is kept,
        // though nobody is left to answer.
        if !journal.isEmpty { journal.commit(whenDurable: nil) }
        routes.clear()  // lets go of the sessions it matched
        if let session, let deliveryTarget {
            broker.closeSession(session, owner: deliveryTarget)
        }
        if let session, !retainedBacklog.isEmpty {
            // The retained messages new subscriptions were still owed belong
            // to the session: a persistent one (offline now, or taken over)
            // gets them in its queue, as if they had all gone in at SUBSCRIBE.
            if session.isPersistent, broker.holds(session) { broker.deliverRetained(&retainedBacklog, to: session) }
            retainedBacklog = RetainedBacklog()
        }
        var willHeld = false
        if !disconnectedCleanly, let will {
            let sessionLives = session.map { $0.isPersistent && broker.holds($0) } ?? false
            if version == .v5, sessionLives, session?.isOnline == true || movedToAnotherNode {
                // A new connection resumed the session (here, or on another
                // node) before the will delay passed, even a delay of 0: in a
                // takeover it exists before this one closes [MQTT-3.1.3-9].
                // The client is alive there.
                logger.debug("will cancelled: the session was resumed by a new connection")
            } else if options.willDelay > 0, sessionLives, let session {
                // 5.0 will delay: held back, and cancelled if the session is
                // resumed first.
                logger.debug("will delayed", metadata: ["topic": "\(ReasonString.excerpt(will.topic))", "seconds": "\(options.willDelay)"])
                broker.scheduleWill(will, for: session, delaySeconds: options.willDelay)
                willHeld = true
            } else {
                // No delay, or the session ended with this connection (a
                // clean start took the client id over): the will is due now,
                // "the Will Delay Interval has passed or the Session ends,
                // whichever happens first" (5.0 section 3.1.3.2.2).
                logger.debug("publishing will", metadata: ["topic": "\(ReasonString.excerpt(will.topic))"])
                broker.publishWill(will)
            }
        }
        // Not after a takeover: the record is the new owner's then.
        if let session, let epoch = clusterEpoch, let sessions = broker.clusterSessions, !movedToAnotherNode {
            sessions.sessionEnded(clientId: session.clientId, epoch: epoch, kept: broker.holds(session), willHeld: willHeld)
        }
        will = nil
        // Another node delivers the session now: the copy here goes.
        if movedToAnotherNode, let session { broker.forgetSession(session.clientId) }
        session = nil
        deliveryTarget = nil  // breaks the handler <-> target cycle
        pauseTimer?.cancel()
        pauseTimer = nil
        limiter.release(slot)
        slot = .none
        broker.metrics.connectionClosed()
    }
}

extension ConnectionCloseReason {
    /// The DISCONNECT reason code a 5.0 client gets for it.
    var disconnectReasonCode: UInt8? {
        switch self {
        case .protocolError: return ReasonCode.protocolError
        case .malformedPacket: return ReasonCode.malformedPacket
        case .keepAliveTimeout: return ReasonCode.keepAliveTimeout
        case .connectTimeout: return nil
        case .takenOver: return ReasonCode.sessionTakenOver
        case .receiveMaximumExceeded: return ReasonCode.receiveMaximumExceeded
        case .topicAliasInvalid: return ReasonCode.topicAliasInvalid
        case .storageUnavailable: return ReasonCode.unspecifiedError
        case .replyTooLarge: return ReasonCode.packetTooLarge
        case .publishRateExceeded: return ReasonCode.messageRateTooHigh
        case .clusterLeaseLost: return ReasonCode.useAnotherServer
        }
    }
}
