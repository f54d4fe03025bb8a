import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Dispatches a packet in the connected state to the handler of its
    /// family: publish (+publish), acknowledgements (+acknowledgements),
    /// subscriptions (+subscribe), DISCONNECT (+connect).
    func handle(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        guard let session, let deliveryTarget else { return }
        switch packet {
        case .publish(let publish):
            if publisherPause.isPaused {
                publisherPause.deferPublish(publish)
            } else if publishRate == nil || admitPublish(publish, context: context) {
                handlePublish(publish, session: session)
            } else if !isClosing {
                publisherPause.deferPublish(publish)
            }
        case .puback(let ack):
            handlePubAck(ack, session: session, target: deliveryTarget, context: context)
        case .pubrec(let ack):
            handlePubRec(ack, session: session, target: deliveryTarget, context: context)
        case .pubrel(let ack):
            handlePubRel(ack, session: session)
        case .pubcomp(let ack):
            handlePubComp(ack, session: session, target: deliveryTarget, context: context)
        case .subscribe(let subscribe):
            handleSubscribe(subscribe, session: session, context: context)
        case .unsubscribe(let unsubscribe):
            handleUnsubscribe(unsubscribe, session: session)
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
}
