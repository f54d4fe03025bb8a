import NIOCore
import WharfCore

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
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        pauseTimer = context.eventLoop.scheduleTask(in: Self.maxPause) {
            handler.value.resumeReading()
        }
    }

    func resumeReading() {
        guard let context, publisherPause.resume() else { return }
        pauseTimer?.cancel()
        pauseTimer = nil
        routeDeferredPublishes(ignoringPause: false)
        if !publisherPause.isPaused && !rateThrottled {
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
            handlePublish(publish, session: session)
        }
    }

    /// A PUBLISH of `size` bytes against `[limits] max_publish_rate` and
    /// `max_publish_bytes_rate` (see `PublishRateLimit`); false when it
    /// closed the connection instead.
    func admitPublish(size: Int, context: ChannelHandlerContext) -> Bool {
        guard var rate = publishRate else { return true }
        let verdict = rate.publish(size: size, mayDisconnect: version == .v5, now: Clock.nowNanos())
        publishRate = rate
        switch verdict {
        case .within:
            return true
        case .throttle(let nanos):
            throttleReading(for: nanos, context: context)
            return true
        case .disconnect:
            close(
                context, because: .publishRateExceeded,
                "publishing faster than the server's limit of \(rateDescription) after being slowed down")
            return false
        }
    }

    /// Stops reading the socket until the client is back within its rate:
    /// TCP slows it down; what was read already is handled.
    private func throttleReading(for nanos: UInt64, context: ChannelHandlerContext) {
        guard !rateThrottled else { return }
        rateThrottled = true
        broker.metrics.publisherThrottled()
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        rateTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: nanos))) {
            handler.value.endThrottle()
        }
    }

    private func endThrottle() {
        rateThrottled = false
        rateTimer = nil
        guard let context, !publisherPause.isPaused else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    private var rateDescription: String {
        var limits: [String] = []
        if clientLimits.publishRate > 0 { limits.append("\(clientLimits.publishRate) messages/s") }
        if clientLimits.publishBytesRate > 0 { limits.append("\(clientLimits.publishBytesRate) bytes/s") }
        return limits.joined(separator: " and ")
    }
}
