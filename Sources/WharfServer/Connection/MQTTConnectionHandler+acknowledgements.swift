import NIOCore
import WharfCore
import WharfMQTT

/// PUBACK, PUBREC, PUBREL and PUBCOMP from the client: deliveries it
/// completed or refused, and the release of its own QoS 2 publishes.
/// Inlined into the dispatcher: a call per acknowledgement (with its
/// arguments retained) cost ~20 instructions of a QoS 1 message.
extension MQTTConnectionHandler {
    @inline(__always)
    func handlePubAck(_ ack: PublishAckPacket, session: Session, target: ConnectionDeliveryTarget, context: ChannelHandlerContext) {
        if ack.isFailure {
            if wrongAcknowledgement(.puback, ack.packetId, session: session, context: context) { return }
            // 5.0 negative acknowledgement: redelivered after a backoff.
            if let done = session.reject(ack.packetId, from: target) { broker.rejected(done, by: session) }
        } else if let done = session.acknowledge(ack.packetId, from: target) {
            acknowledged(done)
        } else if wrongAcknowledgement(.puback, ack.packetId, session: session, context: context) {
            return
        }
        drainAfterReadBatch = true
    }

    @inline(__always)
    func handlePubRec(_ ack: PublishAckPacket, session: Session, target: ConnectionDeliveryTarget, context: ChannelHandlerContext) {
        if ack.isFailure {
            if wrongAcknowledgement(.pubrec, ack.packetId, session: session, context: context) { return }
            // Ends the QoS 2 flow without PUBREL (5.0 section 4.3.3).
            if let done = session.reject(ack.packetId, from: target) { broker.rejected(done, by: session) }
            drainAfterReadBatch = true
            return
        }
        // PUBREL goes back even for an unknown id (a resend after reconnect).
        // After PUBREC the message is the client's: a restart resends PUBREL, not PUBLISH.
        if let (message, group) = session.received(ack.packetId, from: target) {
            broker.journalReceived(message, group: group, packetId: ack.packetId, session: session, into: journal)
            if let epoch = clusterEpoch { clusterReleased(ack.packetId, message, from: group, session: session, epoch: epoch) }
        } else if wrongAcknowledgement(.pubrec, ack.packetId, session: session, context: context) {
            return
        }
        writePacket(.pubrel(PublishAckPacket(packetId: ack.packetId)))
    }

    /// The client releases one of its QoS 2 publishes (method B: it was
    /// routed at PUBLISH; the id is forgotten now).
    @inline(__always)
    func handlePubRel(_ ack: PublishAckPacket, session: Session) {
        let known = session.releaseInbound(ack.packetId)
        if known {
            broker.journalInbound(session: session, packetId: ack.packetId, awaitingRelease: false, into: journal)
            if let epoch = clusterEpoch {
                // The record forgets the exchange before PUBCOMP: the client may reuse the id next.
                unroutedExchanges.removeValue(forKey: ack.packetId)
                broker.clusterSessions?.sessionExchangeCompleted(
                    clientId: session.clientId, epoch: epoch, packetId: ack.packetId, journal: journal)
            }
        }
        let code = known || version != .v5 ? ReasonCode.success : ReasonCode.packetIdentifierNotFound
        writePacket(.pubcomp(PublishAckPacket(packetId: ack.packetId, reasonCode: code)))
    }

    /// Cluster mode: the session's record keeps a delivery from its queue,
    /// or one from a consumer group's queue in the cluster, that went past
    /// PUBREC (the PUBREL waits for it), so that a connection on another
    /// node sends PUBREL, not the message again.
    private func clusterReleased(_ packetId: UInt16, _ message: Message, from group: ConsumerGroup?, session: Session, epoch: UInt64) {
        guard let sessions = broker.clusterSessions else { return }
        let sequence = session.inboxSequence(ofInflight: packetId)
        if sequence == 0, let group, group.feed != nil {
            sessions.sessionReleased(
                clientId: session.clientId, epoch: epoch, packetId: packetId, lastPacketId: session.lastPacketId, from: group, message,
                journal: journal)
            return
        }
        guard sequence != 0 else { return }
        sessions.sessionReleased(
            clientId: session.clientId, epoch: epoch, ClusterReleasedDelivery(packetId: packetId, sequence: sequence),
            lastPacketId: session.lastPacketId, journal: journal)
    }

    @inline(__always)
    func handlePubComp(_ ack: PublishAckPacket, session: Session, target: ConnectionDeliveryTarget, context: ChannelHandlerContext) {
        if let done = session.completed(ack.packetId, from: target) {
            if let epoch = clusterEpoch {
                broker.clusterSessions?.sessionCompleted(
                    clientId: session.clientId, epoch: epoch, ClusterReleasedDelivery(packetId: ack.packetId, sequence: done.inboxSequence))
            }
            acknowledged(done)
        } else if wrongAcknowledgement(.pubcomp, ack.packetId, session: session, context: context) {
            return
        }
        drainAfterReadBatch = true
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

    /// A PUBACK or PUBCOMP completed a delivery.
    private func acknowledged(_ done: OutboundQueue.Acknowledged) {
        // Tested here first so an acknowledgement of a message nothing
        // journaled loads no session or writer for it.
        if done.message.isJournaled, let session { broker.journalAcknowledged(done, session: session, into: journal) }
        if let group = done.group { groupAcknowledgements.append((group, done.message)) }
        if !done.sentOnSubscribe, broker.recordsDetail { acknowledgedPublishTimes.append(done.message.publishedAtNanos) }
    }

}
