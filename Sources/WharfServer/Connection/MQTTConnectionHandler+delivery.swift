import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Payloads above this have their packet size checked even for a client
    /// that set no maximum.
    static let checkedPayloadLength = 64 << 20

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
        prepareOutbound()
        switch packet {
        case .publish(let message, let qos, let packetId, let retain, let dup, let subscriptionIds):
            var topic = message.topic
            var alias: TopicAliases.Outbound = .none
            var properties: ByteBuffer?
            if version == .v5 {
                alias = aliases.outbound(for: message.topic)
                if case .use = alias { topic = "" }
                propertyScratch.clear()
                writeProperties(of: message, alias: alias, subscriptionIds: subscriptionIds, into: &propertyScratch)
                properties = propertyScratch
            }
            let payloadLength = message.payload.readableBytes
            // Near the protocol's own limit (a 256 MiB packet), the properties
            // added per delivery could take it past what a remaining length can say.
            if clientMaximumPacketSize != Int.max || payloadLength > Self.checkedPayloadLength {
                let remaining = PublishPacket.remainingLength(
                    topicLength: topic.utf8.count, qos: qos, properties: properties?.readableBytes, payloadLength: payloadLength
                )
                guard remaining <= ByteBuffer.maxVariableByteInteger,
                    1 + ByteBuffer.variableByteIntegerSize(remaining) + remaining <= clientMaximumPacketSize
                else {
                    // 5.0 section 3.1.2.11.4: discarded as if delivered.
                    if let packetId, let session, let deliveryTarget {
                        session.abandon(packetId, from: deliveryTarget)
                        broker.journalAbandoned(message, session: session, into: journal)
                    }
                    broker.metrics.messageDropped(.packetTooLarge, count: 1)
                    return
                }
            }
            if case .assign(let id) = alias { aliases.assigned(id, to: message.topic) }
            let start = outbound.writerIndex
            PublishPacket.writeHeader(
                topic: topic, qos: qos, retain: retain, dup: dup, packetId: packetId,
                properties: properties, payloadLength: payloadLength, into: &outbound
            )
            let headerLength = outbound.writerIndex - start
            // Written on its own unless replies in the batch wait for the store:
            // writing the batch early would send them before they are durable.
            if payloadLength > Self.separateWriteThreshold, let context, !journal.repliesMustWait, heldReplies.isEmpty {
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
            // Only QoS 2 sends are journaled (`journalSent` says when): tested
            // first so a QoS 0/1 delivery loads no session or writer for it.
            if qos == .exactlyOnce {
                broker.journalSent(message, qos: qos, dup: dup, packetId: packetId, session: session, into: journal)
            }
        case .pubrel(let packetId):
            writePacket(.pubrel(PublishAckPacket(packetId: packetId)))
        }
    }

    /// A 5.0 delivery's properties: what is left of the message expiry
    /// interval, the topic alias, the subscription identifiers, then the
    /// publisher's properties as they were encoded once at publish.
    private func writeProperties(
        of message: Message, alias: TopicAliases.Outbound, subscriptionIds: SubscriptionIdentifiers, into buffer: inout ByteBuffer
    ) {
        if message.forwardsExpiry {
            buffer.writeInteger(PropertyIdentifier.messageExpiryInterval.rawValue)
            buffer.writeInteger(message.remainingExpirySeconds(at: Clock.nowNanos()))
        }
        switch alias {
        case .assign(let id), .use(let id):
            buffer.writeInteger(PropertyIdentifier.topicAlias.rawValue)
            buffer.writeInteger(id)
        case .none:
            break
        }
        switch subscriptionIds {
        case .none: break
        case .one(let id): Self.writeSubscriptionIdentifier(id, into: &buffer)
        case .many(let ids): for id in ids { Self.writeSubscriptionIdentifier(id, into: &buffer) }
        }
        if let forwarded = message.forwardedProperties { buffer.writeImmutableBuffer(forwarded) }
    }

    private static func writeSubscriptionIdentifier(_ id: UInt32, into buffer: inout ByteBuffer) {
        buffer.writeInteger(PropertyIdentifier.subscriptionIdentifier.rawValue)
        buffer.writeVariableByteInteger(Int(id))
    }
}
