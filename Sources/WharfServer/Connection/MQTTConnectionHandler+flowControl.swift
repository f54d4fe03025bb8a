import NIOCore
import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Longest a publisher stays paused without a resume: bounds the harm of
    /// a consumer that stops reading, and breaks pause cycles between two
    /// connections that each publish to the other.
    static let maxPause = TimeAmount.nanoseconds(Int64(Session.maxPauseNanos))

    /// Stops routing this publisher's messages, and reading its socket (TCP
    /// pushes back on the client), until a subscriber queue drains or
    /// `maxPause` passes. PUBLISH packets already read wait in
    /// `publisherPause`, so the pause takes effect at once instead of
    /// after the rest of the read batch.
    func pauseReading() {
        guard let context, publisherPause.pause() else { return }
        broker.metrics.publisherPaused()
        stopReading(resumingIn: Self.maxPause, context: context)
    }

    /// Reading off; `resumeReading` after `delay` unless something resumes it first.
    private func stopReading(resumingIn delay: TimeAmount, context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        pauseTimer?.cancel()
        pauseTimer = context.eventLoop.scheduleTask(in: delay) {
            handler.value.resumeReading()
        }
    }

    func resumeReading() {
        guard let context, publisherPause.resume() else { return }
        pauseTimer?.cancel()
        pauseTimer = nil
        routeDeferredPublishes(ignoringPause: false)
        if !publisherPause.isPaused, !exchangePending {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        if !readBatchActive { flush() }
    }

    /// Routes deferred publishes in order; stops if routing pauses again,
    /// unless the connection is ending and everything must go now.
    func routeDeferredPublishes(ignoringPause: Bool) {
        guard let session else {
            publisherPause.dropDeferred()
            return
        }
        while let publish = publisherPause.nextDeferred(ignoringPause: ignoringPause) {
            // Deferred ones are held to the publish rate too, in order;
            // a connection that is ending routes what it has.
            if !ignoringPause, publishRate != nil, let context, !admitPublish(publish, context: context) {
                if !isClosing { publisherPause.putBack(publish) }
                return
            }
            handlePublish(publish, session: session)
        }
    }

    /// A PUBLISH against `[limits] max_publish_rate` and
    /// `max_publish_bytes_rate` (see `PublishRateLimit`): true if it may be
    /// routed now. If not, the publisher is paused until it may (the caller
    /// keeps the packet for then), or closed with 0x96.
    func admitPublish(_ publish: PublishPacket, context: ChannelHandlerContext) -> Bool {
        guard var rate = publishRate else { return true }
        // The packet's size near enough: its topic and payload.
        let size = publish.topic.utf8.count + publish.payload.readableBytes + 4
        let verdict = rate.admit(size: size, mayDisconnect: version == .v5, now: Clock.nowNanos())
        publishRate = rate
        switch verdict {
        case .within:
            return true
        case .wait(let nanos):
            guard publisherPause.pause() else { return false }
            broker.metrics.publisherThrottled()
            stopReading(resumingIn: .nanoseconds(Int64(clamping: nanos)), context: context)
            return false
        case .disconnect:
            close(
                context, because: .publishRateExceeded,
                "publishing faster than the server's limit of \(rateDescription) for more than 2 seconds")
            return false
        }
    }

    private var rateDescription: String {
        var limits: [String] = []
        if clientLimits.publishRate > 0 { limits.append("\(clientLimits.publishRate) messages/s") }
        if clientLimits.publishBytesRate > 0 { limits.append("\(clientLimits.publishBytesRate) bytes/s") }
        return limits.joined(separator: " and ")
    }
}
