import NIOCore
import WharfCore
import WharfMQTT

/// Inbound QoS 2 across nodes (cluster mode, docs/cluster.md "QoS 2 across
/// nodes"): a new QoS 2 PUBLISH of a session the cluster keeps is routed
/// only once its record holds the exchange. Then, if this node dies before
/// the PUBREC, the node the client sends it again to knows the exchange
/// and routes it under the same identity, so nothing that already went
/// goes twice. Meanwhile the connection reads nothing more, and what it
/// read after the PUBLISH waits in order (as after a CONNECT that waits
/// for its claim).
///
/// One record write takes every new QoS 2 PUBLISH of the read: a client
/// with a window of them in flight sends them together, and one write per
/// message, each waiting for the last, held a publisher that resent 477 of
/// them after a crash for about 15 s (the chaos run).
extension MQTTConnectionHandler {
    func holdUntilRecorded(_ publish: PublishPacket, session: Session, epoch: UInt64, sessions: any ClusterSessionDirectory) {
        guard let context, let packetId = publish.packetId else { return }
        exchangeSerial += 1
        let exchange = InboundExchange(clientId: session.clientId, epoch: epoch, serial: exchangeSerial)
        exchangePending = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        // The rest of this read lands in `heldInbound` first.
        context.eventLoop.execute {
            handler.value.recordExchanges(first: publish, packetId: packetId, exchange, session: session, epoch: epoch, sessions: sessions)
        }
    }

    /// Writes the held PUBLISH's exchange, with those of the new QoS 2
    /// PUBLISHes read after it (`prerecorded` until they are handled), to
    /// the record in one write.
    private func recordExchanges(
        first publish: PublishPacket, packetId: UInt16, _ exchange: InboundExchange, session: Session, epoch: UInt64,
        sessions: any ClusterSessionDirectory
    ) {
        guard let context, !isClosing else { return }
        var batch = [(packetId: packetId, exchange: exchange)]
        var seen: Set<UInt16> = [packetId]
        for inbound in heldInbound {
            guard case .publish(let held) = inbound.packet, held.qos == .exactlyOnce, let id = held.packetId,
                !session.awaitsRelease(id), seen.insert(id).inserted
            else { continue }
            exchangeSerial += 1
            let next = InboundExchange(clientId: session.clientId, epoch: epoch, serial: exchangeSerial)
            batch.append((id, next))
            prerecorded[id] = next
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        sessions.sessionExchangesBegun(clientId: session.clientId, epoch: epoch, batch) { recorded in
            loop.execute { handler.value.exchangeRecorded(recorded, publish, exchange) }
        }
    }

    private func exchangeRecorded(_ recorded: Bool, _ publish: PublishPacket, _ exchange: InboundExchange) {
        exchangePending = false
        guard let context, !isClosing, let session else {
            heldInbound.removeAll()
            prerecorded.removeAll()
            return
        }
        guard recorded else {
            // Unrouted and unacknowledged: the client sends them again,
            // here or on the node that took the session.
            heldInbound.removeAll()
            prerecorded.removeAll()
            close(context, because: .storageUnavailable, "cluster: the session record did not take a QoS 2 exchange")
            return
        }
        readBatchActive = true
        routePublish(publish, session: session, repeatedTopic: routes.isLast(publish.topic), exchange: exchange)
        // What the client sent after it, in order, as one batch: the QoS 2
        // PUBLISHes recorded with it are routed as they come.
        let held = heldInbound
        heldInbound.removeAll()
        for inbound in held { receive(inbound, context: context) }
        // One recorded but not routed (refused, say) keeps nothing here:
        // the record's entry for its id goes with the id's next exchange.
        if !exchangePending { prerecorded.removeAll() }
        if !isClosing, !exchangePending, !publisherPause.isPaused {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        channelReadComplete(context: context)
    }

    /// The record's exchanges at CONNECT (`ClusterSessionGrant.received`):
    /// their ids, and no others, await PUBREL here (the record is the
    /// truth, even for a copy this node kept), and the ones not routed in
    /// full are routed again when the client sends their PUBLISH again.
    func restoreExchanges(_ received: [ClusterReceivedExchange], to session: Session) {
        session.replaceInbound(Set(received.map(\.packetId)))
        for exchange in received where !exchange.routed {
            unroutedExchanges[exchange.packetId] = InboundExchange(
                clientId: session.clientId, epoch: exchange.epoch, serial: exchange.serial)
        }
    }
}
