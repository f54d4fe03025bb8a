import Foundation
import NIOCore
import NIOSSL
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// CONNECT (3.1.1 section 3.1.4, 5.0 section 3.1.4): check, open or
    /// resume the session, answer CONNACK, then resend what the session
    /// still had in flight.
    func handleConnect(_ connect: ConnectPacket, context: ChannelHandlerContext) {
        // Known before any reply, refusals included: none may exceed the
        // client's maximum packet size.
        options = NegotiatedOptions(connect: connect, limits: broker.limits)
        let v5 = connect.version == .v5
        slot = limiter.promote(slot)
        guard slot == .connected else {
            refuse(.serverUnavailable, context: context, because: .maxConnections, "connection limit of \(limiter.maximum) reached")
            return
        }
        if v5, let method = connect.properties.string(.authenticationMethod) {
            // Enhanced authentication (SCRAM, Kerberos...) is not configured:
            // 5.0 section 4.12 answers 0x8C.
            refuse(
                ConnectReturnCode(rawValue: ReasonCode.badAuthenticationMethod), context: context,
                because: .badAuthenticationMethod, "enhanced authentication method '\(ReasonString.excerpt(method))' is not supported"
            )
            return
        }
        var clientId = connect.clientId
        var assignedClientId: String?
        if clientId.isEmpty {
            // 3.1 requires an id; 3.1.1 assigns one, but only to a clean
            // session; 5.0 always assigns one and says which in CONNACK.
            guard v5 || (connect.cleanSession && connect.version != .v3_1) else {
                refuse(.identifierRejected, context: context, because: .identifierRejected, "empty client id without clean session")
                return
            }
            clientId = broker.assignClientId()
            if v5 { assignedClientId = clientId }
        }
        if connect.version == .v3_1 && clientId.utf8.count > 23 {
            refuse(.identifierRejected, context: context, because: .identifierRejected, "MQTT 3.1 client id longer than 23 bytes")
            return
        }
        logger[metadataKey: "client"] = "\(ReasonString.excerpt(clientId))"
        if let identity = listener?.config.useIdentityAsUsername {
            // The verified client certificate is the credential, and its
            // identity the user name (Mosquitto's use_identity_as_username).
            guard let certificate = peerCertificate(context), let name = identity.read(from: certificate), !name.isEmpty else {
                refuse(
                    .notAuthorized, context: context, because: .notAuthorized,
                    "the client certificate has no \(identity.rawValue) to use as the user name")
                return
            }
            username = name
        } else if let failure = (security?.currentAuthenticator ?? authenticator).authenticate(connect) {
            let reason: ConnectionRejectReason =
                switch failure {
                case .anonymousRefused: .notAuthorized
                case .unknownUser: .unknownUser
                case .wrongPassword: .wrongPassword
                }
            let detail = "authentication failed for user '\(ReasonString.excerpt(connect.username ?? ""))': \(failure)"
            // Guessing is slowed per address: the refusal waits longer after
            // each failure from it. Other clients are not slowed: this
            // connection waits on a timer, not the event loop.
            guard let throttle = loginThrottle, let address = context.channel.remoteAddress?.ipAddress else {
                refuse(failure.returnCode, context: context, because: reason, detail)
                return
            }
            let delay = TimeAmount(throttle.failed(address: address))
            refuseLater(after: delay, failure.returnCode, context: context, because: reason, detail)
            return
        } else {
            if let address = context.channel.remoteAddress?.ipAddress { loginThrottle?.succeeded(address: address) }
            username = connect.username
        }

        aliases = TopicAliases(inboundMaximum: options.inboundAliasMaximum, outboundMaximum: options.outboundAliasMaximum)
        // The will outlives the read buffer it arrived in: keep its own copy.
        let connectWill = connect.will.map { will in
            Message(
                topic: will.topic, payload: ByteBuffer(buffer: will.payload), qos: will.qos, retain: will.retain,
                properties: will.properties, journalId: broker.newJournalId(qos: will.qos, retain: will.retain))
        }
        let accepted = AcceptedConnect(
            version: connect.version, clientId: clientId, assignedClientId: assignedClientId, cleanSession: connect.cleanSession,
            will: connectWill, requestsResponseInformation: connect.properties.integer(.requestResponseInformation) == 1)
        let expiry = options.sessionExpiryInterval ?? (connect.cleanSession ? 0 : UInt32.max)
        if let sessions = broker.clusterSessions {
            claimInCluster(accepted, expiry: expiry, sessions: sessions, context: context)
        } else {
            openSession(accepted, grant: nil, context: context)
        }
    }

    /// What CONNECT settled once it was accepted, for `openSession` (at once,
    /// or after the cluster's claim).
    struct AcceptedConnect {
        var version: ProtocolVersion
        var clientId: String
        var assignedClientId: String?
        var cleanSession: Bool
        var will: Message?
        var requestsResponseInformation: Bool
    }

    /// Cluster mode: the cluster claims the session for this node first
    /// (`ClusterSessionDirectory`; a clean one only if the client has a
    /// record), which can take a lease when a node died. Meanwhile nothing
    /// more is read, and what the client sent after CONNECT waits
    /// (`claimPending`).
    private func claimInCluster(
        _ accepted: AcceptedConnect, expiry: UInt32, sessions: any ClusterSessionDirectory, context: ChannelHandlerContext
    ) {
        claimPending = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let request = ClusterSessionConnect(
            clientId: accepted.clientId, cleanStart: accepted.cleanSession, expiryInterval: expiry, will: accepted.will,
            willDelay: options.willDelay)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let claim = await sessions.claimSession(request)
            loop.execute { handler.value.claimAnswered(claim, accepted, expiry: expiry, sessions: sessions) }
        }
    }

    private func claimAnswered(
        _ claim: ClusterSessionClaim, _ accepted: AcceptedConnect, expiry: UInt32, sessions: any ClusterSessionDirectory
    ) {
        claimPending = false
        guard let context, !isClosing else {
            // The client went while the claim was made: the record says so.
            if case .claimed(let grant) = claim {
                sessions.sessionEnded(clientId: accepted.clientId, epoch: grant.epoch, kept: true, willHeld: false)
            }
            heldInbound.removeAll()
            return
        }
        switch claim {
        case .notRecorded:
            openSession(accepted, grant: nil, context: context)
        case .unavailable(let why):
            heldInbound.removeAll()
            refuse(.serverUnavailable, context: context, because: .clusterUnavailable, "cluster: \(why)")
        case .claimed(let grant):
            clusterEpoch = grant.epoch
            openSession(accepted, grant: grant, context: context)
            if !isClosing, let session {
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let loop = context.eventLoop
                sessions.sessionDelivering(clientId: session.clientId, epoch: grant.epoch, session: session) { why, done in
                    loop.execute {
                        handler.value.releasedByCluster(why)
                        done()
                    }
                }
            }
        }
        if !isClosing {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            // What the client sent after CONNECT, in order, as one batch.
            let held = heldInbound
            heldInbound.removeAll()
            for inbound in held { receive(inbound, context: context) }
        }
        channelReadComplete(context: context)
    }

    /// Opens (or resumes) the session and answers CONNACK; in cluster mode
    /// `grant` says what the cluster's record holds.
    private func openSession(_ accepted: AcceptedConnect, grant: ClusterSessionGrant?, context: ChannelHandlerContext) {
        let clientId = accepted.clientId
        let v5 = accepted.version == .v5
        let info = ClientInfo(
            clientId: clientId, address: context.channel.remoteAddress.map(Self.describe) ?? "?",
            protocolVersion: accepted.version.description, connectedAtSeconds: Date().timeIntervalSince1970,
            listener: listener?.name, tls: listener?.tls != nil
        )
        clientInfo = info
        let target = ConnectionDeliveryTarget(
            handler: self, eventLoop: context.eventLoop, clientInfo: info, loopClock: loopClocks?.clock(for: context.eventLoop)
        )
        packetScratch.removeAll(keepingCapacity: true)
        authorization = broker.accessPolicy.map { ClientAuthorization(policy: $0, username: username, clientId: clientId) }
        // A copy here that the cluster's record does not vouch for (none
        // kept, or another node delivered the session since) starts clean;
        // the record's subscriptions then go in.
        let cleanHere = accepted.cleanSession || grant.map { !($0.sessionPresent && $0.lastDeliveredHere) } ?? false
        // A session claimed in the cluster has its queue there.
        let routedByCluster = grant != nil
        // The expiry follows the client's own flags: `cleanHere` may start a
        // 3.1.1 session afresh here whose client asked to keep it.
        let expiry = options.sessionExpiryInterval ?? (accepted.cleanSession ? 0 : UInt32.max)
        let opened = broker.openSession(
            clientId: clientId, cleanSession: cleanHere, expiryInterval: expiry,
            receiveMaximum: options.receiveMaximum, owner: target, authorization: authorization, routedByCluster: routedByCluster,
            resend: &packetScratch
        )
        if let previous = opened.takenOver {
            logger.info("session taken over by a new connection")
            previous.sessionTakenOver()
        }
        deliveryTarget = target
        session = opened.session
        if let grant, grant.sessionPresent, !opened.sessionPresent { restoreSubscriptions(grant.subscriptions, to: opened.session) }
        if let grant, grant.sessionPresent, !opened.sessionPresent, grant.lastPacketId != 0 {
            opened.session.continuePacketIds(after: grant.lastPacketId)
        }
        if let grant, grant.sessionPresent, !grant.released.isEmpty {
            // QoS 2 deliveries another node took to PUBREC: PUBREL after CONNACK.
            for delivery in opened.session.restoreReleased(grant.released) { packetScratch.append(.pubrel(packetId: delivery.packetId)) }
        }
        if let grant, grant.sessionPresent { restoreExchanges(grant.received, to: opened.session) }
        if let grant, grant.sessionPresent, grant.resendThrough > 0 { opened.session.markMaybeSent(through: grant.resendThrough) }
        if let grant, grant.sessionPresent, !grant.completed.isEmpty { opened.session.restoreCompleted(grant.completed) }
        if opened.connAckWaitsForJournal { journal.requireDurableReply() }
        will = accepted.will
        publishRate = PublishRateLimit(
            messagesPerSecond: clientLimits.publishRate, bytesPerSecond: Double(clientLimits.publishBytesRate), now: Clock.nowNanos())
        protocolState.connectAccepted(version: accepted.version)
        startKeepAliveTimer(seconds: options.keepAlive, context: context)

        var properties = MQTTProperties()
        if v5 {
            properties = connAckProperties(
                assignedClientId: accepted.assignedClientId, serverKeepAlive: options.keepAliveCapped ? options.keepAlive : nil)
            // Left out when the client id would make it longer than a string field holds.
            if accepted.requestsResponseInformation, clientId.utf8.count <= ByteBuffer.maxMQTTFieldLength - 16 {
                // A topic prefix private to this client for request/response
                // replies; `$` keeps it out of `#` subscriptions.
                properties.append(.responseInformation, .string("$response/\(clientId)/"))
            }
        }
        let sessionPresent = grant?.sessionPresent ?? opened.sessionPresent
        writePacket(.connack(ConnAckPacket(sessionPresent: sessionPresent, returnCode: .accepted, properties: properties)))
        // A CONNACK the client's maximum packet size could not take closed the connection.
        guard !isClosing else {
            packetScratch.removeAll(keepingCapacity: true)
            return
        }
        for packet in packetScratch { writeOutbound(packet) }
        packetScratch.removeAll(keepingCapacity: true)
        drainAfterReadBatch = true
        opened.session.dispatchGroups()
        logger.debug(
            "connected",
            metadata: ["version": "\(accepted.version)", "clean": "\(accepted.cleanSession)", "present": "\(sessionPresent)"]
        )
    }

    /// The cluster record's subscriptions, into a session opened here
    /// without them (it was delivered by another node). A resumed
    /// subscription gets no retained messages, as on a resume here.
    private func restoreSubscriptions(_ subscriptions: [ClusterSessionSubscription], to session: Session) {
        var byIdentifier: [UInt32: [SubscribePacket.Subscription]] = [:]
        for subscription in subscriptions { byIdentifier[subscription.identifier, default: []].append(subscription.request) }
        for (identifier, requests) in byIdentifier.sorted(by: { $0.key < $1.key }) {
            var notOwed = RetainedBacklog()
            _ = broker.subscribe(session, requests, identifier: identifier == 0 ? nil : identifier, retained: &notOwed, journal: journal)
        }
    }

    /// The client's certificate, verified by the TLS handshake; nil without TLS or without one.
    private func peerCertificate(_ context: ChannelHandlerContext) -> NIOSSLCertificate? {
        (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))?.peerCertificate
    }

    /// What a 5.0 client is told in CONNACK: the server's limits and
    /// capabilities (5.0 section 3.2.2.3). Maximum QoS is left out: it is 2.
    private func connAckProperties(assignedClientId: String?, serverKeepAlive: UInt16?) -> MQTTProperties {
        let limits = broker.limits
        var properties = MQTTProperties()
        properties.append(.receiveMaximum, .twoByteInteger(UInt16(clamping: limits.receiveMaximum)))
        properties.append(.maximumPacketSize, .fourByteInteger(UInt32(clamping: limits.maxPacketSize)))
        properties.append(.topicAliasMaximum, .twoByteInteger(UInt16(clamping: limits.topicAliasMaximum)))
        properties.append(.retainAvailable, .byte(1))
        properties.append(.wildcardSubscriptionAvailable, .byte(1))
        properties.append(.subscriptionIdentifierAvailable, .byte(1))
        properties.append(.sharedSubscriptionAvailable, .byte(1))
        if let assignedClientId { properties.append(.assignedClientIdentifier, .string(assignedClientId)) }
        if let serverKeepAlive { properties.append(.serverKeepAlive, .twoByteInteger(serverKeepAlive)) }
        return properties
    }

    /// CONNACK with a refusal code, then close (3.1.1 section 3.2.2.3; a
    /// 5.0 client gets the matching 5.0 reason code).
    private func refuse(
        _ code: ConnectReturnCode, context: ChannelHandlerContext, because reason: ConnectionRejectReason, _ detail: String
    ) {
        var properties = MQTTProperties()
        if version == .v5 { properties.append(.reasonString, .string(ReasonString.bounded(detail))) }
        writePacket(.connack(ConnAckPacket(sessionPresent: false, returnCode: code, properties: properties)))
        lingerOnClose = true
        broker.metrics.connectionRejected(reason)
        logger.info("refusing connection: \(detail)", metadata: ["reason": "\(reason.rawValue)"])
        close(context, because: nil, detail)
    }

    /// `refuse`, after `delay`: nothing more is read from the client
    /// meanwhile, and what it already sent is dropped.
    private func refuseLater(
        after delay: TimeAmount, _ code: ConnectReturnCode, context: ChannelHandlerContext, because reason: ConnectionRejectReason,
        _ detail: String
    ) {
        refusalPending = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: delay) {
            let handler = handler.value
            guard let context = handler.context, !handler.isClosing else { return }
            handler.refuse(code, context: context, because: reason, detail)
            handler.flush()
        }
    }

    /// Replaces the connect timeout with the client's keep-alive x 1.5.
    private func startKeepAliveTimer(seconds: UInt16, context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        _ = pipeline.removeHandler(name: BrokerServer.keepAliveHandlerName)
        guard let milliseconds = ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: seconds) else { return }
        try? pipeline.addHandler(
            KeepAliveHandler(timeout: .milliseconds(milliseconds)) { [weak self] in
                guard let self else { return false }
                return exchangePending || !heldInbound.isEmpty
            },
            name: BrokerServer.keepAliveHandlerName, position: .before(self)
        )
    }

    /// "127.0.0.1:53412" or "[::1]:53412".
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// Another connection took this client id.
    func takenOver() {
        guard let context else { return }
        close(context, because: .takenOver, "client id taken over by a new connection")
    }

    /// Cluster mode: the cluster took this connection's session away. It
    /// stops delivering at once (nothing is sent once closing); a session
    /// another node took over is dropped here when the connection ends.
    func releasedByCluster(_ why: ClusterReleaseReason) {
        guard let context, !isClosing else { return }
        // Replies held for cluster writes are dropped, and the close does
        // not wait for them: with NATS in trouble those writes can take
        // as long as it does, and the socket stayed open (the chaos run saw
        // a client find out 16 s later, by its keep-alive). Not sending an
        // acknowledgement is always safe: the client sends again to the
        // node it moves to.
        abandonHeldOutput = true
        heldReplies.dropAll()
        outbound.clear()
        switch why {
        case .takenOver:
            movedToAnotherNode = true
            close(context, because: .takenOver, "client id taken over by a connection to another node")
        case .leaseLost:
            close(context, because: .clusterLeaseLost, "this node lost its cluster lease: connect to another node")
        }
    }

    /// The broker is stopping: 5.0 clients are told why (0x8B).
    func serverShuttingDown() {
        guard let context else { return }
        close(context, because: nil, "server shutting down", reasonCode: ReasonCode.serverShuttingDown)
    }

    /// DISCONNECT from the client: a 5.0 session expiry change, then close
    /// (with no will, unless the reason code asks for it).
    func handleDisconnect(_ disconnect: DisconnectPacket, session: Session, context: ChannelHandlerContext) {
        routeDeferredPublishes(ignoringPause: true)
        if let expiry = disconnect.properties.integer(.sessionExpiryInterval) {
            // 5.0 section 3.14.2.2.2: a session that was to end with its
            // connection cannot be made to outlive it at DISCONNECT.
            guard session.expiryInterval != 0 || expiry == 0 else {
                close(context, because: .protocolError, "DISCONNECT sets a session expiry interval on a session that had none")
                return
            }
            broker.setExpiryInterval(expiry, of: session, journal: journal)
        }
        // 0x04: disconnect normally, but publish the will.
        disconnectedCleanly = disconnect.reasonCode != ReasonCode.disconnectWithWill
        if disconnectedCleanly { will = nil }
        close(context, because: nil, "client disconnected")
    }
}
