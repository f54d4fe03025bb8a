import DequeModule
import NIOCore
import WharfCore

/// What other nodes forward to this one, routed to its subscribers with the
/// same flow control a publishing connection gets: when a subscriber's queue
/// passes its high-water mark, the node stops reading from NATS (what the
/// others send waits in the NATS server), and reads again when the queue
/// drains or after `maxPause`. Messages of the read batch that arrive while
/// paused wait here, in order. Without this a fast publisher on one node
/// overflowed a subscriber's queue on another.
///
/// Lives on the NATS connection's loop; `resumeReading` may come from any
/// thread and hops there.
final class ClusterInbound: DeliveryTarget, @unchecked Sendable {  // state touched on `loop` only
    static let maxPause = TimeAmount.milliseconds(250)

    /// A message from another node, and the inbound QoS 2 exchange it
    /// belongs to (`InboundExchange.key`), if any.
    struct Forward {
        var message: Message
        var exchange: String?
    }

    private let loop: any EventLoop
    private let setReading: @Sendable (Bool) -> Void
    private let route: (Forward, ClusterInbound) -> Bool
    private var paused = false
    private var waiting = Deque<Forward>()
    private var resumeTimer: Scheduled<Void>?

    /// `route` publishes one message and says whether its publisher must pause.
    init(loop: any EventLoop, setReading: @escaping @Sendable (Bool) -> Void, route: @escaping (Forward, ClusterInbound) -> Bool) {
        self.loop = loop
        self.setReading = setReading
        self.route = route
    }

    /// A message from another node (on the loop).
    func arrived(_ message: Forward) {
        if paused || !waiting.isEmpty {
            waiting.append(message)
            return
        }
        if route(message, self) { pause() }
    }

    private func pause() {
        guard !paused else { return }
        paused = true
        setReading(false)
        resumeTimer?.cancel()
        resumeTimer = loop.scheduleTask(in: Self.maxPause) { [self] in resume() }
    }

    private func resume() {
        guard paused else { return }
        paused = false
        resumeTimer?.cancel()
        resumeTimer = nil
        while !paused, let next = waiting.popFirst() {
            if route(next, self) { pause() }
        }
        if !paused { setReading(true) }
    }

    func resumeReading() {
        loop.execute { [self] in resume() }
    }

    func deliveriesPending() {}
    func sessionTakenOver() {}
}
