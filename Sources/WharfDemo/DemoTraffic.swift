import Foundation
import NIOCore
import NIOPosix
import Synchronization
import WharfMQTT

/// The synthetic traffic behind `wharf demo`: publishers at different and
/// varying rates, queues with fast, slow and intermittent consumers, so the
/// dashboard shows depth, lag and latency that move, build up and recover.
///
/// - sensors: 80 msg/s of QoS 0 readings under `plant/line1..4/...`.
/// - orders: QoS 1 to `orders/created`, 10 to 70 msg/s in a 45 s wave.
/// - market: 150 msg/s of QoS 0 quotes under `market/<symbol>/quote`.
/// - two consumer groups: orders shared by three fulfilment workers, quotes
///   by two indexers.
/// - repair requests (`repairs/...`, one every 2 s) go to a group whose only
///   member takes them and drops its connection every 8 s without
///   acknowledging: after 3 attempts (the demo's policy) they are
///   dead-lettered to `$DLQ/repairs/...`. Orders expire after 15 s unread.
/// - billing and analytics acknowledge at once; warehouse acknowledges
///   slowly for 18 s of every 40, so its lag grows and then recovers;
///   archiver goes offline for 15 s of every 45, so its queue fills and drains.
public final class DemoTraffic: Sendable {
    private let host: String
    private let port: Int
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let tasks = Mutex<[RepeatedTask]>([])
    private let start = Date()

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }

    private var elapsed: Double { Date().timeIntervalSince(start) }

    public func run() async throws {
        let loop = group.next()
        func open(
            _ id: String, clean: Bool = true, _ subscriptions: [SubscribePacket.Subscription] = [],
            ackDelay: @escaping @Sendable () -> Double = { 0 }
        ) async throws -> NIOLoopBound<DemoClientHandler> {
            try await DemoConnection.open(
                host: host, port: port, group: loop, clientId: id, cleanSession: clean, subscriptions: subscriptions, ackDelay: ackDelay
            ).get()
        }
        let startTime = start
        // Consumers first, so the queues exist before traffic starts.
        _ = try await open("billing", clean: false, [.init(filter: "orders/#", qos: .atLeastOnce)])
        _ = try await open(
            "warehouse", clean: false, [.init(filter: "orders/#", qos: .atLeastOnce)],
            ackDelay: {
                Date().timeIntervalSince(startTime).truncatingRemainder(dividingBy: 40) < 18 ? 1.0 : 0
            })
        _ = try await open("analytics", clean: false, [.init(filter: "market/#", qos: .atLeastOnce)])
        _ = try await open("ops-console", [.init(filter: "#", qos: .atMostOnce)])
        // Two consumer groups: orders shared by three fulfilment workers (one
        // slower than the others), quotes shared by two indexers.
        for (index, delay) in [(1, 0.0), (2, 0.0), (3, 0.05)] {
            _ = try await open(
                "fulfil-\(index)", clean: false, [.init(filter: "$share/fulfilment/orders/#", qos: .atLeastOnce)], ackDelay: { delay })
        }
        for index in 1...2 {
            _ = try await open("indexer-\(index)", [.init(filter: "$share/indexers/market/#", qos: .atLeastOnce)])
        }
        _ = try await open("dlq-inspector", [.init(filter: "$DLQ/#", qos: .atLeastOnce)])
        let flaky = try await open(
            "repair-bot", clean: false, [.init(filter: "$share/repairs/repairs/#", qos: .atLeastOnce)], ackDelay: { 3600 })
        let archiver = try await open("archiver", clean: false, [.init(filter: "plant/+/temperature", qos: .atLeastOnce)])
        let sensors = try await open("sensor-gateway")
        let orders = try await open("orders-api")
        let market = try await open("market-feed")
        let generator = try await loop.submit { [host, port] in
            NIOLoopBound(
                Generator(
                    host: host, port: port, loop: loop, sensors: sensors.value, orders: orders.value, market: market.value,
                    archiver: archiver.value, flaky: flaky.value
                ),
                eventLoop: loop
            )
        }.get()
        let tick = TimeAmount.milliseconds(100)
        let task = loop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in
            generator.value.tick(elapsed)
        }
        tasks.withLock { $0.append(task) }
    }

    public func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        try? await group.shutdownGracefully()
    }
}

/// The publishers' state, confined to the traffic's event loop.
private final class Generator {
    let host: String
    let port: Int
    let loop: any EventLoop
    let sensors: DemoClientHandler
    let orders: DemoClientHandler
    let market: DemoClientHandler
    var archiver: DemoClientHandler?
    var reconnecting = false
    var flaky: DemoClientHandler?
    var lastFlakyCycle = 0
    var repairs = 0
    var readings = 0
    var orderNumber = 1000
    var orderCredit = 0.0
    var quoteCredit = 0.0
    let symbols = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN"]
    var prices: [Double] = [187.2, 411.9, 880.4, 172.6, 178.3]

    init(
        host: String, port: Int, loop: any EventLoop, sensors: DemoClientHandler, orders: DemoClientHandler,
        market: DemoClientHandler, archiver: DemoClientHandler?, flaky: DemoClientHandler?
    ) {
        self.flaky = flaky
        self.host = host
        self.port = port
        self.loop = loop
        self.sensors = sensors
        self.orders = orders
        self.market = market
        self.archiver = archiver
        sensors.publish(topic: "plant/line1/status", payload: "running", qos: .atLeastOnce, retain: true)
    }

    func tick(_ t: Double) {
        // Sensors: 8 readings per tick.
        for line in 1...4 {
            readings += 1
            let celsius = 21 + 4 * sin(t / 30 + Double(line)) + Double(readings % 7) / 10
            sensors.publish(
                topic: "plant/line\(line)/temperature", payload: String(format: "{\"celsius\":%.1f}", celsius), qos: .atMostOnce)
            sensors.publish(
                topic: "plant/line\(line)/vibration", payload: String(format: "{\"mm_s\":%.2f}", 2 + sin(t + Double(line))),
                qos: .atMostOnce)
        }
        // Orders: a 45 s wave between 10 and 70 per second.
        orderCredit += (40 + 30 * sin(2 * Double.pi * t / 45)) / 10
        while orderCredit >= 1 {
            orderCredit -= 1
            orderNumber += 1
            orders.publish(
                topic: "orders/created", payload: "{\"order\":\(orderNumber),\"amount\":\(orderNumber % 97 + 3).50}", qos: .atLeastOnce)
        }
        // Market: 150 quotes per second on average, in bursts every other second.
        quoteCredit += Double(Int(t) % 2 == 0 ? 250 : 50) / 10
        while quoteCredit >= 1 {
            quoteCredit -= 1
            let index = Int.random(in: 0..<symbols.count)
            prices[index] *= 1 + Double.random(in: -0.001...0.001)
            market.publish(
                topic: "market/\(symbols[index])/quote", payload: String(format: "{\"bid\":%.2f}", prices[index]), qos: .atMostOnce)
        }
        // Repairs: one request every 2 s, to a member that never acknowledges
        // and reconnects every 8 s (so each request is tried 3 times, then dead-lettered).
        if Int(t * 10) % 20 == 0 {
            repairs += 1
            sensors.publish(topic: "repairs/line\(repairs % 4 + 1)", payload: "{\"request\":\(repairs)}", qos: .atLeastOnce)
        }
        if Int(t) / 8 > lastFlakyCycle, let client = flaky {
            lastFlakyCycle = Int(t) / 8
            client.disconnect()
            flaky = nil
            let me = NIOLoopBound(self, eventLoop: loop)
            DemoConnection.open(
                host: host, port: port, group: loop, clientId: "repair-bot", cleanSession: false,
                subscriptions: [.init(filter: "$share/repairs/repairs/#", qos: .atLeastOnce)], ackDelay: { 3600 }
            ).whenSuccess { me.value.flaky = $0.value }
        }
        // Archiver: offline from 30 s to 45 s of every 45 s cycle.
        let phase = t.truncatingRemainder(dividingBy: 45)
        if phase >= 30, let client = archiver {
            client.disconnect()
            archiver = nil
        } else if phase < 30, archiver == nil, !reconnecting {
            reconnecting = true
            let me = NIOLoopBound(self, eventLoop: loop)
            DemoConnection.open(
                host: host, port: port, group: loop, clientId: "archiver", cleanSession: false,
                subscriptions: [.init(filter: "plant/+/temperature", qos: .atLeastOnce)]
            ).whenComplete { result in
                me.value.reconnecting = false
                if case .success(let client) = result { me.value.archiver = client.value }
            }
        }
    }
}
