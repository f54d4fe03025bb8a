import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Pulls every packet the session may send now and writes them as one
    /// batch. Called after a hop from the core, after acknowledgements free
    /// the window, and when the socket becomes writable again.
    func drain() {
        guard let session, let deliveryTarget, let context, !isClosing else { return }
        // A slow reader: leave messages queued in the session (where the
        // queue limit counts them) instead of growing NIO's write buffer.
        guard context.channel.isWritable else {
            drainWhenWritable = true
            return
        }
        let expired = session.takePackets(for: deliveryTarget, into: &packetScratch)
        if expired > 0 { broker.metrics.messageDropped(.expired, count: expired) }
        // Room freed by what goes out now: groups may hand over more.
        defer { session.dispatchGroups() }
        guard !packetScratch.isEmpty else { return }
        for packet in packetScratch { writeOutbound(packet) }
        packetScratch.removeAll(keepingCapacity: true)
        if !readBatchActive { flush() }
    }

    /// Encodes one delivery into the batch.
    func writeOutbound(_ packet: OutboundPacket) {
        switch packet {
        case .publish(let message, let qos, let packetId, let retain, let dup):
            let payloadLength = message.payload.readableBytes
            let start = outbound.writerIndex
            PublishPacket.writeHeader(
                topic: message.topic, qos: qos, retain: retain, dup: dup, packetId: packetId,
                payloadLength: payloadLength, into: &outbound
            )
            let headerLength = outbound.writerIndex - start
            if payloadLength > Self.separateWriteThreshold, let context {
                context.write(wrapOutboundOut(outbound), promise: nil)
                context.write(wrapOutboundOut(message.payload), promise: nil)
                outbound = context.channel.allocator.buffer(capacity: 1024)
            } else {
                outbound.writeImmutableBuffer(message.payload)
            }
            traffic.delivered(packetBytes: headerLength + payloadLength, payloadBytes: payloadLength, dup: dup)
            // Retained messages sent on subscribe carry RETAIN; their age is
            // not transit time, so they stay out of the latency figures.
            if !retain && broker.recordsDetail { deliveredPublishTimes.append(message.publishedAtNanos) }
        case .pubrel(let packetId):
            writePacket(.pubrel(PublishAckPacket(packetId: packetId)))
        }
    }
}
