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
        if !publisherPause.isPaused {
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
}
