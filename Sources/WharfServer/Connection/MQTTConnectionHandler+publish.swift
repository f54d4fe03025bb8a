import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
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
                close(
                    context, because: .protocolError,
                    "topic has \(publish.topic.topicLevelCount) levels; max_topic_levels is \(broker.limits.maxTopicLevels)",
                    reasonCode: ReasonCode.topicNameInvalid)
            }
            return
        }
        if authorization != nil, !authorizesPublish(to: publish.topic) {
            authorizationDenied(.publish, publish.topic)
            if version == .v5 {
                // 5.0 tells the client (PUBACK/PUBREC 0x87; a QoS 2 exchange ends there).
                acknowledge(publish, code: ReasonCode.notAuthorized, reason: "not authorized to publish to this topic")
            } else {
                // 3.1.1 has no code for it: acknowledged and dropped (section
                // 3.3.5), the QoS 2 exchange completed as for any message.
                if publish.qos == .exactlyOnce, !session.beginInboundExactlyOnce(publish.packetId!) {
                    acknowledge(publish, code: ReasonCode.success)
                    return
                }
                acknowledge(publish, code: ReasonCode.success)
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
        if broker.isJournaling, publish.qos != .atMostOnce || publish.retain, !broker.journal.acceptsMessages,
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
        var exchange: InboundExchange?
        if publish.qos == .exactlyOnce, let id = publish.packetId {
            if !session.beginInboundExactlyOnce(id) {
                // A resent QoS 2 PUBLISH whose id still awaits PUBREL:
                // acknowledged, not routed twice; unless the cluster's
                // record says the node it arrived on first died before
                // routing it in full (routed again under its identity).
                guard let unrouted = unroutedExchanges.removeValue(forKey: id) else {
                    acknowledge(publish, code: ReasonCode.success)
                    return
                }
                exchange = unrouted
            } else {
                broker.journalInbound(session: session, packetId: id, awaitingRelease: true, into: journal)
                if let recorded = prerecorded.removeValue(forKey: id) {
                    exchange = recorded
                } else if let epoch = clusterEpoch, let sessions = broker.clusterSessions {
                    holdUntilRecorded(publish, session: session, epoch: epoch, sessions: sessions)
                    return
                }
            }
        }
        routePublish(publish, session: session, repeatedTopic: repeatedTopic, exchange: exchange)
    }

    /// Routes a PUBLISH that passed every check, and acknowledges it.
    /// `exchange`: a QoS 2 one of a session the cluster keeps, whose record
    /// holds it (and is told once it was routed, before the PUBREC).
    func routePublish(_ publish: PublishPacket, session: Session, repeatedTopic: Bool, exchange: InboundExchange?) {
        if !publish.properties.isEmpty, let id = publish.properties.userProperty(PublisherDeduplication.userPropertyName),
            broker.isRepeat(topic: publish.topic, id: id, journal: journal)
        {
            broker.metrics.messageDeduplicated()
            if let exchange { exchangeRouted(exchange, publish) }
            acknowledge(publish, code: ReasonCode.success)
            return
        }
        let message = Message(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: publish.properties,
            journalId: broker.newJournalId(qos: publish.qos, retain: publish.retain)
        )
        let outcome = broker.publish(
            message, from: deliveryTarget, session: session, counted: true, routes: &routes, repeatedTopic: repeatedTopic,
            journal: journal, exchange: exchange
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
        if let exchange { exchangeRouted(exchange, publish) }
        acknowledge(publish, code: code)
        if outcome.pausePublisher { pauseReading() }
    }

    /// The record says the exchange was routed in full; the PUBREC waits for it.
    private func exchangeRouted(_ exchange: InboundExchange, _ publish: PublishPacket) {
        guard let id = publish.packetId, let epoch = clusterEpoch else { return }
        broker.clusterSessions?.sessionExchangeRouted(
            clientId: exchange.clientId, epoch: epoch, packetId: id, exchange: exchange, journal: journal)
    }

    /// PUBACK (QoS 1) or PUBREC (QoS 2); 5.0 clients get the reason code.
    private func acknowledge(_ publish: PublishPacket, code: UInt8, reason: String? = nil) {
        guard let id = publish.packetId else { return }
        var ack = PublishAckPacket(packetId: id, reasonCode: version == .v5 ? code : 0)
        if code == ReasonCode.quotaExceeded || code == ReasonCode.notAuthorized, requestProblemInformation {
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
                close(
                    context, because: .topicAliasInvalid,
                    "topic alias \(alias) is 0 or above the maximum of \(broker.limits.topicAliasMaximum)")
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
