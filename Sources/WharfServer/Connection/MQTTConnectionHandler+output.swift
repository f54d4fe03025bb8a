import NIOCore
import WharfCore
import WharfMQTT

/// What the connection writes: control packets into the batch's buffer, one
/// write and flush per batch, replies held for the journal (`HeldReplies`),
/// the batch's metrics, and closing.
extension MQTTConnectionHandler {
    /// Appends a control packet to the batch. A 5.0 client never gets one
    /// above its Maximum Packet Size (5.0 section 3.1.2.11.4): the reason
    /// string and user properties are shed first, as the spec asks; then a
    /// CONNACK's optional properties (`essentialForConnAck`). A reply still
    /// too large cannot be given, so the connection is closed (with DISCONNECT
    /// 0x95 if that fits, and never before a CONNACK).
    func writePacket(_ packet: MQTTPacket) {
        prepareOutbound()
        let start = outbound.writerIndex
        packet.encode(into: &outbound, version: version)
        let size = outbound.writerIndex - start
        guard size > clientMaximumPacketSize else {
            traffic.sent(packet.type, bytes: size)
            return
        }
        outbound.moveWriterIndex(to: start)
        if let shed = packet.withoutDiagnostics() {
            writePacket(shed)
        } else if case .connack(var connack) = packet, let essential = connack.properties.essentialForConnAck {
            // Every CONNACK property is optional but the two a client must
            // act on; without the others it assumes the spec's defaults.
            connack.properties = essential
            writePacket(.connack(connack))
        } else if packet.type == .connack, let context {
            // Nothing may come before CONNACK, not even a DISCONNECT: just close.
            close(
                context, because: .replyTooLarge, "CONNACK exceeds the client's maximum packet size of \(clientMaximumPacketSize)",
                connectedAs: .awaitingConnect)
        } else if packet.type != .disconnect, let context {
            close(
                context, because: .replyTooLarge,
                "\(packet.type) of \(size) bytes exceeds the client's maximum packet size of \(clientMaximumPacketSize)",
                reasonCode: ReasonCode.packetTooLarge
            )
        }
    }

    /// The output buffer between batches: one shared empty buffer, so a
    /// flush allocates nothing (`ByteBuffer()` makes a storage object each time).
    static let noOutput = ByteBuffer()

    /// Gives the output buffer room for a batch before its first write.
    @inline(__always)
    func prepareOutbound() {
        if outbound.capacity == 0, let context { outbound = context.channel.allocator.buffer(capacity: 1024) }
    }

    /// Hands the batch to the channel, flushes it, and records the batch's
    /// latencies (the moment of the flush is when the copies leave).
    func flush() {
        guard let context else { return }
        if holdUntilDurable(context) {
            recordBatchMetrics()
            return
        }
        if outbound.readableBytes > 0 {
            context.write(wrapOutboundOut(outbound), promise: nil)
            // Empty until the next write needs it (`prepareOutbound`): an
            // idle connection holds no output buffer.
            outbound = Self.noOutput
        }
        context.flush()
        recordBatchMetrics()
    }

    /// Commits the batch's durable effects. Returns true if the batch's
    /// output was held back instead of written (see `HeldReplies`).
    private func holdUntilDurable(_ context: ChannelHandlerContext) -> Bool {
        switch heldReplies.flush(repliesMustWait: journal.repliesMustWait, journalIsEmpty: journal.isEmpty) {
        case .write:
            if !journal.isEmpty { journal.commit(whenDurable: nil) }
            return false
        case .queueBehind:
            if outbound.readableBytes > 0 {
                heldReplies.queueBehind(&outbound)
                outbound.clear()
            }
            return true
        case .commitAndHold:
            let commit = heldReplies.nextCommit()
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            // One hop back per batch, however many messages it carried.
            journal.commit { ok in
                loop.execute { handler.value.durable(commit, ok: ok) }
            }
            heldReplies.hold(outbound, until: commit)
            outbound = Self.noOutput
            return true
        }
    }

    /// The journal made `commit` (and everything before it) durable, or failed to.
    func durable(_ commit: UInt64, ok: Bool) {
        guard let context else { return }
        guard ok else {
            // Not durable: those acknowledgements must not go out. The
            // client keeps its messages and sends them again later.
            heldReplies.dropAll()
            if isClosing {
                context.close(promise: nil)
                return
            }
            let full = !broker.journal.acceptsMessages
            close(
                context, because: .storageUnavailable, full ? "storage full" : "storage write failed",
                reasonCode: full ? ReasonCode.quotaExceeded : ReasonCode.unspecifiedError
            )
            return
        }
        let wrote = heldReplies.released(upTo: commit) { context.write(wrapOutboundOut($0), promise: nil) }
        if wrote { context.flush() }
        if heldReplies.closeIsDue { finishClose(context) }
    }

    /// Hands the batch's latencies and per-topic counts to the metrics model:
    /// one lock each per batch instead of one per message.
    func recordBatchMetrics() {
        if !traffic.isEmpty {
            broker.metrics.record(traffic)
            clientInfo?.add(traffic)
            traffic.reset()
        }
        closeTopicRun()
        guard !deliveredPublishTimes.isEmpty || !acknowledgedPublishTimes.isEmpty || !publishedTopics.isEmpty else { return }
        let now = Clock.nowNanos()
        // Per-queue latency is reported for persistent sessions only (clean
        // ones have no queue series), so only they pay for recording it.
        if let session, session.isPersistent, !deliveredPublishTimes.isEmpty || !acknowledgedPublishTimes.isEmpty {
            session.recordLatency(delivered: deliveredPublishTimes, acknowledged: acknowledgedPublishTimes, now: now)
        }
        broker.latency.record(delivered: deliveredPublishTimes, acknowledged: acknowledgedPublishTimes, now: now, shard: latencyShard)
        broker.topicStatistics.record(publishedTopics, sample: payloadSample, now: now)
        payloadSample = nil
        deliveredPublishTimes.removeAll(keepingCapacity: true)
        acknowledgedPublishTimes.removeAll(keepingCapacity: true)
        publishedTopics.removeAll(keepingCapacity: true)
    }

    /// Flushes what is pending, then closes; logs and counts why. A nil
    /// reason is an ordinary close (DISCONNECT, a refusal already counted).
    ///
    /// A 5.0 client that completed CONNECT is sent DISCONNECT first, with
    /// `reasonCode` or the one `reason` implies (5.0 section 4.13).
    func close(
        _ context: ChannelHandlerContext, because reason: ConnectionCloseReason?, _ detail: String, reasonCode: UInt8? = nil,
        connectedAs state: ConnectionStateMachine.State? = nil
    ) {
        guard !isClosing else { return }
        isClosing = true
        // Details may quote client input: bounded for the reason string and the log.
        let detail = ReasonString.bounded(detail)
        if case .connected(.v5) = state ?? protocolState.state, let code = reasonCode ?? reason?.disconnectReasonCode {
            var properties = MQTTProperties()
            properties.append(.reasonString, .string(detail))
            writePacket(.disconnect(DisconnectPacket(reasonCode: code, properties: properties)))
            // The client must be able to read why; at shutdown the store
            // closes next, so nothing may linger then.
            lingerOnClose = code != ReasonCode.serverShuttingDown
        }
        protocolState.close()
        // Free the slot now, not when the socket is gone: a client that got
        // our close may reconnect before channelInactive runs.
        limiter.release(slot)
        slot = .none
        if let reason {
            broker.metrics.connectionClosedByServer(reason)
            logger.info("closing connection: \(detail)", metadata: ["reason": "\(reason.rawValue)"])
        } else {
            logger.debug("closing connection: \(detail)")
        }
        if abandonHeldOutput {
            // Only the DISCONNECT: nothing it would have to wait for.
            if outbound.readableBytes > 0 { context.write(wrapOutboundOut(outbound), promise: nil) }
            outbound = Self.noOutput
            context.flush()
            finishClose(context)
            return
        }
        flush()
        if heldReplies.deferClose() { return }
        finishClose(context)
    }

    /// How long a connection closed with a reason (DISCONNECT, a CONNACK
    /// refusal) goes on reading after its output is shut: long enough for
    /// the client to read the reason, not long enough to hold anything up.
    static let closeLinger = TimeAmount.seconds(1)

    /// Closes the connection; one that was told why is closed for output
    /// first and read from (and what it sends dropped) for `closeLinger`.
    /// Closing at once would leave the client's last packets (a PUBREL, say)
    /// unread, and the kernel would answer them with a reset that destroys
    /// the reason before the client reads it: it would see a broken pipe.
    /// The connection's effects (session, will, metrics) end now, not when
    /// the socket does.
    func finishClose(_ context: ChannelHandlerContext) {
        guard lingerOnClose else {
            context.close(promise: nil)
            return
        }
        endConnection(context)
        let channel = context.channel
        // The FIN goes after what is written. Where output cannot be shut
        // alone, the timer closes all the same.
        context.close(mode: .output, promise: nil)
        lingerTimer = context.eventLoop.scheduleTask(in: Self.closeLinger) { channel.close(promise: nil) }
    }
}
