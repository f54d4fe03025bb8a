import NIOCore
import WharfCore

/// The core's handle on a connection. The core may call from any thread; each
/// call is one hop to the connection's loop, where the handler pulls every
/// packet pending at that moment (so under load one hop carries a batch).
final class ConnectionDeliveryTarget: DeliveryTarget {
    private let eventLoop: any EventLoop
    private let handler: NIOLoopBound<MQTTConnectionHandler>
    let clientInfo: ClientInfo?
    private let loopClock: LoopClocks.LoopClock?

    init(handler: MQTTConnectionHandler, eventLoop: any EventLoop, clientInfo: ClientInfo? = nil, loopClock: LoopClocks.LoopClock? = nil) {
        self.eventLoop = eventLoop
        self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
        self.clientInfo = clientInfo
        self.loopClock = loopClock
    }

    var loopRunningNanos: UInt64 { loopClock?.runningNanos ?? Clock.nowNanos() }

    func deliveriesPending() {
        eventLoop.execute { self.handler.value.drain() }
    }

    func sessionTakenOver() {
        eventLoop.execute { self.handler.value.takenOver() }
    }

    func serverShuttingDown() {
        eventLoop.execute { self.handler.value.serverShuttingDown() }
    }

    func resumeReading() {
        eventLoop.execute { self.handler.value.resumeReading() }
    }
}
