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
extension MQTTConnectionHandler {
    func holdUntilRecorded(_ publish: PublishPacket, session: Session, epoch: UInt64, sessions: any ClusterSessionDirectory) {
        guard let context, let packetId = publish.packetId else { return }
        exchangeSerial += 1
        let exchange = InboundExchange(clientId: session.clientId, epoch: epoch, serial: exchangeSerial)
        exchangePending = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        sessions.sessionExchangeBegun(clientId: session.clientId, epoch: epoch, packetId: packetId, exchange: exchange) { recorded in
            loop.execute { handler.value.exchangeRecorded(recorded, publish, exchange) }
        }
    }

    private func exchangeRecorded(_ recorded: Bool, _ publish: PublishPacket, _ exchange: InboundExchange) {
        exchangePending = false
        guard let context, !isClosing, let session else {
            heldInbound.removeAll()
            return
        }
        guard recorded else {
            // Unrouted and unacknowledged: the client sends it again,
            // here or on the node that took the session.
            heldInbound.removeAll()
            close(context, because: .storageUnavailable, "cluster: the session record did not take a QoS 2 exchange")
            return
        }
        readBatchActive = true
        routePublish(publish, session: session, repeatedTopic: routes.isLast(publish.topic), exchange: exchange)
        // What the client sent after it, in order, as one batch (a new
        // exchange among it holds the rest again).
        let held = heldInbound
        heldInbound.removeAll()
        for inbound in held { receive(inbound, context: context) }
        if !isClosing, !exchangePending, !publisherPause.isPaused {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        channelReadComplete(context: context)
    }

    /// The record's exchanges at CONNECT (`ClusterSessionGrant.received`):
    /// their ids await PUBREL here, and the ones not routed in full are
    /// routed again when the client sends their PUBLISH again.
    func restoreExchanges(_ received: [ClusterReceivedExchange], to session: Session) {
        session.restoreInbound(Set(received.map(\.packetId)))
        for exchange in received where !exchange.routed {
            unroutedExchanges[exchange.packetId] = InboundExchange(
                clientId: session.clientId, epoch: exchange.epoch, serial: exchange.serial)
        }
    }
}
