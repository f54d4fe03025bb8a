import NIOCore
import ServiceLifecycle
import Synchronization
import WharfCore
import WharfMetrics

/// Publishes broker statistics under `$SYS/broker/...`, as Mosquitto does,
/// from the same snapshot the exporter serves. Retained, so a new subscriber
/// sees the current values at once; a value is only republished when it has
/// changed. Filters starting with a wildcard never match `$SYS` (the `$` rule),
/// so `#` subscribers are not flooded. Runs until graceful shutdown.
final class SysTopicPublisher: Service {
    private let broker: Broker
    private let eventLoop: any EventLoop
    private let interval: TimeAmount
    private let snapshot: @Sendable () -> MetricsSnapshot
    /// Touched once per interval by the timer; a mutex is plenty.
    private let lastPublished = Mutex<[String: String]>([:])

    init(broker: Broker, eventLoop: any EventLoop, interval: TimeAmount, snapshot: @escaping @Sendable () -> MetricsSnapshot) {
        self.broker = broker
        self.eventLoop = eventLoop
        self.interval = interval
        self.snapshot = snapshot
    }

    func run() async {
        await eventLoop.repeatUntilShutdown(initialDelay: .zero, every: interval) { [self] in publish() }
    }

    /// The topics and values, named as Mosquitto names them where it has the same figure.
    static func values(_ s: MetricsSnapshot) -> [(String, String)] {
        [
            ("$SYS/broker/version", "wharf \(s.version)"),
            ("$SYS/broker/uptime", "\(Int(s.uptimeSeconds)) seconds"),
            ("$SYS/broker/clients/connected", "\(s.sessions.online)"),
            ("$SYS/broker/clients/disconnected", "\(s.sessions.offline)"),
            ("$SYS/broker/clients/total", "\(s.sessions.online + s.sessions.offline)"),
            ("$SYS/broker/clients/maximum", "\(s.connections.maximum)"),
            ("$SYS/broker/connections/current", "\(s.connections.current)"),
            ("$SYS/broker/messages/received", "\(s.messages.receivedTotal)"),
            ("$SYS/broker/messages/sent", "\(s.messages.deliveredTotal)"),
            ("$SYS/broker/messages/dropped", "\(s.messages.droppedTotal.values.reduce(0, +))"),
            ("$SYS/broker/store/messages/count", "\(s.queues.reduce(0) { $0 + $1.depth + $1.inflight })"),
            ("$SYS/broker/subscriptions/count", "\(s.subscriptions)"),
            ("$SYS/broker/retained messages/count", "\(s.retainedMessages)"),
            ("$SYS/broker/bytes/received", "\(s.traffic.bytesReceivedTotal)"),
            ("$SYS/broker/bytes/sent", "\(s.traffic.bytesSentTotal)"),
        ]
    }

    private func publish() {
        let changed: [(String, String)] = lastPublished.withLock { last in
            Self.values(snapshot()).filter { topic, value in
                defer { last[topic] = value }
                return last[topic] != value
            }
        }
        for (topic, value) in changed {
            broker.publishSystem(Message(topic: topic, payload: ByteBuffer(string: value), qos: .atMostOnce, retain: true))
        }
    }
}
