import Foundation
import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// CONNECT (3.1.1 section 3.1.4): check, open or resume the session,
    /// answer CONNACK, then resend what the session still had in flight.
    func handleConnect(_ connect: ConnectPacket, context: ChannelHandlerContext) {
        version = connect.version
        guard hasConnectionSlot else {
            refuse(.serverUnavailable, context: context, because: .maxConnections, "connection limit of \(limiter.maximum) reached")
            return
        }
        var clientId = connect.clientId
        if clientId.isEmpty {
            // 3.1 requires an id; 3.1.1 assigns one, but only to a clean session.
            guard connect.cleanSession, connect.version != .v3_1 else {
                refuse(.identifierRejected, context: context, because: .identifierRejected, "empty client id without clean session")
                return
            }
            clientId = broker.assignClientId()
        }
        if connect.version == .v3_1 && clientId.utf8.count > 23 {
            refuse(.identifierRejected, context: context, because: .identifierRejected, "MQTT 3.1 client id longer than 23 bytes")
            return
        }
        logger[metadataKey: "client"] = "\(clientId)"
        if let refusal = authenticator.check(connect) {
            let reason: ConnectionRejectReason = refusal == .notAuthorized ? .notAuthorized : .badCredentials
            refuse(refusal, context: context, because: reason, "authentication failed for user '\(connect.username ?? "")'")
            return
        }

        let info = ClientInfo(
            clientId: clientId, address: context.channel.remoteAddress.map(Self.describe) ?? "?",
            protocolVersion: connect.version.description, connectedAtSeconds: Date().timeIntervalSince1970
        )
        clientInfo = info
        let target = ConnectionDeliveryTarget(handler: self, eventLoop: context.eventLoop, clientInfo: info)
        packetScratch.removeAll(keepingCapacity: true)
        let opened = broker.openSession(
            clientId: clientId, cleanSession: connect.cleanSession, owner: target, resend: &packetScratch
        )
        if let previous = opened.takenOver {
            logger.info("session taken over by a new connection")
            previous.sessionTakenOver()
        }
        deliveryTarget = target
        session = opened.session
        // The will outlives the read buffer it arrived in: keep its own copy.
        will = connect.will.map { will in
            var copy = will
            copy.payload = ByteBuffer(buffer: will.payload)
            return copy
        }
        protocolState.connectAccepted(version: connect.version)
        startKeepAliveTimer(seconds: connect.keepAlive, context: context)

        writePacket(.connack(ConnAckPacket(sessionPresent: opened.sessionPresent, returnCode: .accepted)))
        for packet in packetScratch { writeOutbound(packet) }
        packetScratch.removeAll(keepingCapacity: true)
        drainAfterReadBatch = true
        opened.session.dispatchGroups()
        logger.debug(
            "connected",
            metadata: ["version": "\(connect.version)", "clean": "\(connect.cleanSession)", "present": "\(opened.sessionPresent)"]
        )
    }

    /// CONNACK with a refusal code, then close (3.1.1 section 3.2.2.3).
    private func refuse(
        _ code: ConnectReturnCode, context: ChannelHandlerContext, because reason: ConnectionRejectReason, _ detail: String
    ) {
        writePacket(.connack(ConnAckPacket(sessionPresent: false, returnCode: code)))
        broker.metrics.connectionRejected(reason)
        logger.info("refusing connection: \(detail)", metadata: ["reason": "\(reason.rawValue)"])
        close(context, because: nil, detail)
    }

    /// Replaces the connect timeout with the client's keep-alive x 1.5.
    private func startKeepAliveTimer(seconds: UInt16, context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        _ = pipeline.removeHandler(name: BrokerServer.keepAliveHandlerName)
        guard let milliseconds = ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: seconds) else { return }
        try? pipeline.addHandler(
            KeepAliveHandler(timeout: .milliseconds(milliseconds)),
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
}
