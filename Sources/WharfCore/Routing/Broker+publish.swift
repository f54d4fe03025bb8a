import NIOCore
import WharfMQTT

extension Broker {
    /// Routes one message to every matching session, and updates the retained
    /// store when RETAIN is set. `scratch` is the caller's reusable buffer
    /// (one per connection), so routing allocates nothing per message.
    /// Returns the number of sessions it was queued for.
    @discardableResult
    public func publish(_ message: Message, scratch: inout [RouteTarget]) -> Int {
        metrics.messageReceived(qos: message.qos, payloadBytes: message.payload.readableBytes)
        if message.retain {
            // The store keeps its own compact copy: a slice would pin the
            // whole read buffer it arrived in for as long as it is retained.
            let stored = Message(
                topic: message.topic, payload: ByteBuffer(buffer: message.payload), qos: message.qos,
                retain: true, publishedAtNanos: message.publishedAtNanos
            )
            retained.withLock { $0.update(with: stored) }
        }
        scratch.removeAll(keepingCapacity: true)
        tree.withLock { $0.match(topic: message.topic, into: &scratch) }
        if scratch.isEmpty {
            metrics.messageDropped(.noSubscriber, count: 1)
            return 0
        }
        var queued = 0
        for target in scratch {
            switch target.session.enqueue(message, qos: min(message.qos, target.qos)) {
            case .accepted: queued += 1
            case .droppedOffline: metrics.messageDropped(.offlineQoS0, count: 1)
            case .droppedQueueFull: metrics.messageDropped(.queueFull, count: 1)
            }
        }
        // Release session references promptly; capacity is kept.
        scratch.removeAll(keepingCapacity: true)
        return queued
    }

    /// Convenience for callers without a scratch buffer (wills, tests).
    @discardableResult
    public func publish(_ message: Message) -> Int {
        var scratch: [RouteTarget] = []
        return publish(message, scratch: &scratch)
    }
}
