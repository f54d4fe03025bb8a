import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Loop time one turn spends queueing retained messages for a SUBSCRIBE.
    static let defaultRetainedSliceNanos: UInt64 = 2_000_000
    /// The pause between slices, in which the loop serves its other sockets.
    static let retainedYield = TimeAmount.microseconds(500)

    /// Dispatches a packet in the connected state to its handler.
    func handle(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        guard let session, let deliveryTarget else { return }
        switch packet {
        case .publish(let publish):
            if readPaused {
                deferredPublishes.append(publish)
            } else {
                handlePublish(publish, session: session)
            }
        case .puback(let ack):
            if ack.isFailure {
                if wrongAcknowledgement(.puback, ack.packetId, session: session, context: context) { return }
                // 5.0 negative acknowledgement: redelivered after a backoff.
                if let done = session.reject(ack.packetId, from: deliveryTarget) { broker.rejected(done, by: session) }
            } else if let done = session.acknowledge(ack.packetId, from: deliveryTarget) {
                acknowledged(done)
            } else if wrongAcknowledgement(.puback, ack.packetId, session: session, context: context) {
                return
            }
            drainAfterReadBatch = true
        case .pubrec(let ack):
            if ack.isFailure {
                if wrongAcknowledgement(.pubrec, ack.packetId, session: session, context: context) { return }
                // Ends the QoS 2 flow without PUBREL (5.0 section 4.3.3).
                if let done = session.reject(ack.packetId, from: deliveryTarget) { broker.rejected(done, by: session) }
                drainAfterReadBatch = true
                return
            }
            // PUBREL goes back even for an unknown id (a resend after reconnect).
            // After PUBREC the message is the client's: a restart resends PUBREL, not PUBLISH.
            if let (message, group) = session.received(ack.packetId, from: deliveryTarget) {
                broker.journalReceived(message, group: group, packetId: ack.packetId, session: session, into: journal)
            } else if wrongAcknowledgement(.pubrec, ack.packetId, session: session, context: context) {
                return
            }
            writePacket(.pubrel(PublishAckPacket(packetId: ack.packetId)))
        case .pubrel(let ack):
            let known = session.releaseInbound(ack.packetId)
            if known { broker.journalInbound(session: session, packetId: ack.packetId, awaitingRelease: false, into: journal) }
            let code = known || version != .v5 ? ReasonCode.success : ReasonCode.packetIdentifierNotFound
            writePacket(.pubcomp(PublishAckPacket(packetId: ack.packetId, reasonCode: code)))
        case .pubcomp(let ack):
            if let done = session.completed(ack.packetId, from: deliveryTarget) {
                acknowledged(done)
            } else if wrongAcknowledgement(.pubcomp, ack.packetId, session: session, context: context) {
                return
            }
            drainAfterReadBatch = true
        case .subscribe(let subscribe):
            handleSubscribe(subscribe, session: session, context: context)
        case .unsubscribe(let unsubscribe):
            retainedBacklog.remove(filters: unsubscribe.filters)
            let existed = broker.unsubscribe(session, filters: unsubscribe.filters, journal: journal)
            // 5.0: an invalid filter is 0x8F, as in SUBACK; a valid one never subscribed 0x11.
            let codes = version == .v5
                ? zip(unsubscribe.filters, existed).map { filter, was in
                    was ? ReasonCode.success : Self.isValidFilter(filter) ? ReasonCode.noSubscriptionExisted : ReasonCode.topicFilterInvalid
                } : []
            writePacket(.unsuback(UnsubAckPacket(packetId: unsubscribe.packetId, reasonCodes: codes)))
        case .pingreq:
            writePacket(.pingresp)
        case .disconnect(let disconnect):
            handleDisconnect(disconnect, session: session, context: context)
        case .auth:
            // Enhanced authentication was refused at CONNECT, so no AUTH
            // exchange is in progress (5.0 section 4.12).
            close(context, because: .protocolError, "AUTH without an authentication method in CONNECT")
        case .connect, .connack, .suback, .unsuback, .pingresp:
            // The state machine and the decoder refuse these before here.
            close(context, because: .protocolError, "unexpected \(packet.type)")
        }
    }

    /// An acknowledgement of the wrong type for the delivery under its id
    /// (PUBREC for QoS 1, PUBACK for QoS 2, PUBCOMP before PUBREC) is a
    /// protocol violation: the connection is closed, in 5.0 with DISCONNECT
    /// 0x82 (3.1.1 section 4.8, 5.0 section 4.13). Checked only when the ack
    /// did not fit, so the usual path pays nothing. Returns true if it closed.
    private func wrongAcknowledgement(_ type: PacketType, _ id: UInt16, session: Session, context: ChannelHandlerContext) -> Bool {
        guard let deliveryTarget, let (qos, phase) = session.inflightState(id, from: deliveryTarget) else { return false }
        let expected: String
        switch (qos, phase) {
        case (.atLeastOnce, _): expected = "PUBACK"
        case (.exactlyOnce, .awaitingAck): expected = "PUBREC"
        case (.exactlyOnce, .awaitingComplete): expected = "PUBCOMP"
        default: return false
        }
        let fits: Bool
        switch type {
        case .puback: fits = qos == .atLeastOnce
        case .pubrec: fits = qos == .exactlyOnce  // again after PUBREL is a resend: PUBREL goes back
        case .pubcomp: fits = qos == .exactlyOnce && phase == .awaitingComplete
        default: fits = true
        }
        guard !fits else { return false }
        close(context, because: .protocolError, "\(type) for packet id \(id), a QoS \(qos.rawValue) delivery awaiting \(expected)")
        return true
    }

    private static func isValidFilter(_ filter: String) -> Bool {
        if case .success? = SharedSubscription.parse(filter) { return true }
        return SharedSubscription.parse(filter) == nil && TopicRules.isValidTopicFilter(filter)
    }

    /// A PUBACK or PUBCOMP completed a delivery.
    private func acknowledged(_ done: OutboundQueue.Acknowledged) {
        if let session { broker.journalAcknowledged(done, session: session, into: journal) }
        if let group = done.group { groupAcknowledgements.append((group, done.message)) }
        if !done.sentOnSubscribe, broker.recordsDetail { acknowledgedPublishTimes.append(done.message.publishedAtNanos) }
    }

    private func handleSubscribe(_ subscribe: SubscribePacket, session: Session, context: ChannelHandlerContext) {
        // 5.0 section 3.8.3.1: no local on a shared subscription is a protocol error.
        if let shared = subscribe.subscriptions.first(where: { $0.noLocal && $0.filter.hasPrefix("$share/") }) {
            close(context, because: .protocolError, "no local set on shared subscription \(ReasonString.excerpt(shared.filter))")
            return
        }
        retainedBacklog.remove(filters: subscribe.subscriptions.lazy.map(\.filter))
        let codes = broker.subscribe(
            session, subscribe.subscriptions, identifier: subscribe.subscriptionIdentifier, retained: &retainedBacklog, journal: journal
        )
        var properties = MQTTProperties()
        if version == .v5, requestProblemInformation {
            properties = subscribeRefusalReason(subscribe.subscriptions, codes)
        }
        writePacket(.suback(SubAckPacket(packetId: subscribe.packetId, returnCodes: codes, properties: properties)))
        deliverRetainedSlice()
    }

    /// Queues the retained messages new subscriptions are owed, filter by
    /// filter, until `retainedSliceNanos` of loop time have passed (one
    /// filter's matches always go whole: the trie makes that what it
    /// matches); the rest waits for a later turn of the loop, after other
    /// connections' work. A usual SUBSCRIBE is served
    /// whole at once; one whose filters walk a large retained store (a `+`
    /// over thousands of topics, times a thousand filters) no longer holds
    /// the loop for seconds.
    func deliverRetainedSlice() {
        guard let session, let context, !isClosing, !retainedBacklog.isEmpty else { return }
        broker.deliverRetained(&retainedBacklog, to: session, until: Clock.nowNanos() &+ retainedSliceNanos)
        guard !retainedBacklog.isEmpty, !retainedSliceScheduled else { return }
        retainedSliceScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        // Not `execute`: NIO runs tasks until its queue is empty, so a task
        // that queues itself again would starve I/O just the same. A task due
        // a little later lets the loop poll its sockets first.
        context.eventLoop.scheduleTask(in: Self.retainedYield) {
            handler.value.retainedSliceScheduled = false
            handler.value.deliverRetainedSlice()
        }
    }

    /// The SUBACK's reason string: which filters were invalid and which were
    /// over a limit, each list bounded (`ReasonString`).
    private func subscribeRefusalReason(_ requests: [SubscribePacket.Subscription], _ codes: [SubscribeReturnCode]) -> MQTTProperties {
        var invalid: [String] = []
        var overLimit = 0
        for (request, code) in zip(requests, codes) where code.grantedQoS == nil {
            if code == .quotaExceeded { overLimit += 1 } else { invalid.append(request.filter) }
        }
        var parts: [String] = []
        if !invalid.isEmpty { parts.append("invalid topic filter: \(ReasonString.list(invalid, noun: "filters"))") }
        if overLimit > 0 {
            let limits = broker.limits
            parts.append(
                "\(overLimit) over the limit of \(limits.maxFiltersPerSubscribe) filters per SUBSCRIBE or \(limits.maxSubscriptionsPerClient) subscriptions per client"
            )
        }
        var properties = MQTTProperties()
        if !parts.isEmpty { properties.append(.reasonString, .string(ReasonString.bounded(parts.joined(separator: "; ")))) }
        return properties
    }

    private func handleDisconnect(_ disconnect: DisconnectPacket, session: Session, context: ChannelHandlerContext) {
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

    /// PUBLISH from the client (3.1.1 section 4.3): route, then acknowledge.
    /// QoS 2 uses method B: route on PUBLISH, remember the id until PUBREL so
    /// a resent PUBLISH is acknowledged but not routed twice.
    func handlePublish(_ received: PublishPacket, session: Session) {
        var publish = received
        if version == .v5, !resolveTopic(&publish) { return }
        // The topic this connection routed last (checked then, routed by the
        // cached route, counted in the same per-topic entry).
        let repeatedTopic = routes.isLast(publish.topic)
        if !repeatedTopic, publish.topic.topicLevelCount > broker.limits.maxTopicLevels {
            broker.metrics.messageDropped(.topicTooDeep, count: 1)
            if let context {
                // Well formed, but past this server's limit: 0x90 (5.0 section 3.3.2.1).
                close(context, because: .protocolError,
                      "topic has \(publish.topic.topicLevelCount) levels; max_topic_levels is \(broker.limits.maxTopicLevels)",
                      reasonCode: ReasonCode.topicNameInvalid)
            }
            return
        }
        if publish.qos == .exactlyOnce, version == .v5,
            session.inboundAwaitingRelease >= broker.limits.receiveMaximum, let context
        {
            close(context, because: .receiveMaximumExceeded, "more than \(broker.limits.receiveMaximum) QoS 2 messages awaiting PUBREL")
            return
        }
        // $SYS is the broker's (3.1.1 section 4.7.2): acknowledged so the
        // client is not stuck, but not routed or retained, as in Mosquitto.
        // A QoS 2 one still holds its packet id until PUBREL, like any other.
        if publish.topic.hasPrefix("$SYS/") || publish.topic == "$SYS" {
            if publish.qos == .exactlyOnce, !session.beginInboundExactlyOnce(publish.packetId!) {
                acknowledge(publish, code: ReasonCode.success)  // a resend
                return
            }
            broker.metrics.messageDropped(.reservedTopic, count: 1)
            logger.info("ignoring client publish to \(ReasonString.excerpt(publish.topic)): $SYS is written by the broker only")
            if publish.qos == .exactlyOnce {
                broker.journalInbound(session: session, packetId: publish.packetId!, awaitingRelease: true, into: journal)
            }
            acknowledge(publish, code: ReasonCode.success)
            return
        }
        // A full store takes no new messages; what it holds is kept. (A QoS 2
        // resend it already took is not new: answered below as a duplicate.)
        if publish.qos != .atMostOnce || publish.retain, !broker.journal.acceptsMessages,
            !(publish.qos == .exactlyOnce && session.awaitsRelease(publish.packetId!))
        {
            broker.metrics.messageDropped(.storageFull, count: 1)
            if version == .v5 {
                acknowledge(publish, code: ReasonCode.quotaExceeded, reason: "storage full")
            } else if let context {
                close(context, because: .storageUnavailable, "storage full: refusing QoS \(publish.qos.rawValue) publish")
            }
            return
        }
        // A resent QoS 2 PUBLISH whose id still awaits PUBREL: acknowledged, not routed twice.
        if publish.qos == .exactlyOnce, !session.beginInboundExactlyOnce(publish.packetId!) {
            acknowledge(publish, code: ReasonCode.success)
            return
        }
        if publish.qos == .exactlyOnce {
            broker.journalInbound(session: session, packetId: publish.packetId!, awaitingRelease: true, into: journal)
        }
        if !publish.properties.isEmpty, let id = publish.properties.userProperty(PublisherDeduplication.userPropertyName),
            broker.isRepeat(topic: publish.topic, id: id, journal: journal)
        {
            broker.metrics.messageDeduplicated()
            acknowledge(publish, code: ReasonCode.success)
            return
        }
        let message = Message(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: publish.properties,
            journalId: broker.newJournalId(qos: publish.qos, retain: publish.retain)
        )
        let outcome = broker.publish(
            message, from: deliveryTarget, session: session, counted: true, routes: &routes, repeatedTopic: repeatedTopic,
            journal: journal
        )
        traffic.published(payloadBytes: publish.payload.readableBytes)
        if broker.recordsDetail {
            countPublished(topic: publish.topic, payload: publish.payload, repeated: repeatedTopic)
        }
        var code = ReasonCode.success
        if outcome.rejectedOverLength > 0 && outcome.queued == 0 {
            code = ReasonCode.quotaExceeded
        } else if outcome.matched == 0 {
            code = ReasonCode.noMatchingSubscribers
        }
        acknowledge(publish, code: code)
        if outcome.pausePublisher { pauseReading() }
    }

    /// PUBACK (QoS 1) or PUBREC (QoS 2); 5.0 clients get the reason code.
    private func acknowledge(_ publish: PublishPacket, code: UInt8, reason: String? = nil) {
        guard let id = publish.packetId else { return }
        var ack = PublishAckPacket(packetId: id, reasonCode: version == .v5 ? code : 0)
        if code == ReasonCode.quotaExceeded, requestProblemInformation {
            ack.properties.append(.reasonString, .string(reason ?? "queue at its policy's max_length (overflow reject-new)"))
        }
        writePacket(publish.qos == .atLeastOnce ? .puback(ack) : .pubrec(ack))
    }

    /// 5.0 topic alias: fills in the topic, or closes the connection for a
    /// bad alias (0x94) or an empty topic with none set (0x82).
    private func resolveTopic(_ publish: inout PublishPacket) -> Bool {
        do {
            publish.topic = try aliases.resolve(topic: publish.topic, alias: publish.topicAlias)
            return true
        } catch {
            guard let context else { return false }
            switch error {
            case .invalidAlias(let alias):
                close(context, because: .topicAliasInvalid, "topic alias \(alias) is 0 or above the maximum of \(broker.limits.topicAliasMaximum)")
            case .unknownAlias(let alias):
                close(context, because: .protocolError, "topic alias \(alias) was never set")
            case .missingTopic:
                close(context, because: .protocolError, "PUBLISH with an empty topic and no topic alias")
            }
            return false
        }
    }

    /// Counts a publish for the per-topic figures; a run of publishes to one
    /// topic (the common case) becomes one entry, so the table sees one
    /// lookup per topic per batch. `repeated`: the topic is the one this
    /// connection routed last, which is the one counted last (every publish
    /// that gets here was routed just before), so no comparison is needed.
    @inline(__always)
    private func countPublished(topic: String, payload: ByteBuffer, repeated: Bool) {
        let bytes = payload.readableBytes
        if repeated, !publishedTopics.isEmpty {
            // Added to the last entry at the end of the run: two plain adds here.
            topicRun.messages &+= 1
            topicRun.bytes &+= bytes
            return
        }
        closeTopicRun()
        if publishedTopics.isEmpty { payloadSample = (topic, payload) }
        publishedTopics.append(.init(topic: topic, bytes: bytes))
    }

    /// Adds the run of repeats counted in `topicRun` to the last entry.
    func closeTopicRun() {
        guard topicRun.messages > 0, let last = publishedTopics.indices.last else { return }
        publishedTopics[last].messages &+= topicRun.messages
        publishedTopics[last].bytes &+= topicRun.bytes
        topicRun = (0, 0)
    }
}
