import NIOCore
import ServiceLifecycle
import WharfCore

/// Timed work (retry backoffs, will delays, session expiry, de-duplication
/// windows): `Broker.runTimers` from one repeating task on one loop, until
/// graceful shutdown.
struct BrokerTimers: Service {
    /// Fine enough for sub-second backoffs.
    static let interval = TimeAmount.milliseconds(25)

    let broker: Broker
    let eventLoop: any EventLoop

    func run() async {
        let broker = self.broker
        await eventLoop.repeatUntilShutdown(initialDelay: Self.interval, every: Self.interval) { broker.runTimers() }
    }
}
