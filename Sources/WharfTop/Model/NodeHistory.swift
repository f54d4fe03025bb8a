import WharfMetrics

/// What `wharf top` knows about one broker: its last two snapshots (rates
/// come from their difference) and short histories for sparklines.
public struct NodeHistory: Sendable {
    public enum Status: Sendable, Equatable {
        case connecting
        case connected
        /// The last fetch failed; the previous data stays on screen, marked stale.
        case disconnected(String)
    }

    public let url: String
    public var status: Status = .connecting
    public private(set) var latest: MetricsSnapshot?
    public private(set) var previous: MetricsSnapshot?
    /// The previous snapshot's queues, clients and topics by name, for rates.
    public private(set) var previousQueues: [String: QueueSnapshot] = [:]
    public private(set) var previousClients: [String: ClientSnapshot] = [:]
    public private(set) var previousTopics: [String: MetricsSnapshot.TopicCounts] = [:]
    /// By name + "\u{0}" + filter.
    public private(set) var previousGroups: [String: GroupSnapshot] = [:]
    /// One point per refresh, oldest first, at most `capacity`.
    public private(set) var messagesIn: [Double] = []
    public private(set) var messagesOut: [Double] = []
    public private(set) var bytesIn: [Double] = []
    public private(set) var bytesOut: [Double] = []
    public private(set) var queueDepths: [String: [Double]] = [:]
    /// Per refresh, how many deliveries fell in each latency bucket (a heat strip column).
    public private(set) var latencyColumns: [[Int]] = []
    public static let capacity = 120

    public init(url: String) {
        self.url = url
    }

    /// Adds a fresh snapshot. A snapshot from a restarted broker (counters
    /// went back) restarts the rates instead of showing negative ones.
    public mutating func record(_ snapshot: MetricsSnapshot) {
        status = .connected
        if let latest, snapshot.startTimeSeconds != latest.startTimeSeconds || snapshot.takenAtSeconds <= latest.takenAtSeconds {
            self.latest = nil
        }
        previous = latest
        latest = snapshot
        guard let previous else { return }
        previousQueues = Dictionary(previous.queues.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        previousClients = Dictionary(previous.clients.map { ($0.clientId, $0) }, uniquingKeysWith: { a, _ in a })
        previousTopics = Dictionary(previous.topics.topics.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        previousGroups = Dictionary(previous.groups.map { ($0.name + "\u{0}" + $0.filter, $0) }, uniquingKeysWith: { a, _ in a })
        let seconds = snapshot.takenAtSeconds - previous.takenAtSeconds
        func rate(_ now: Int, _ before: Int) -> Double { max(0, Double(now - before) / seconds) }
        append(&messagesIn, rate(snapshot.messages.receivedTotal, previous.messages.receivedTotal))
        append(&messagesOut, rate(snapshot.messages.deliveredTotal, previous.messages.deliveredTotal))
        append(&bytesIn, rate(snapshot.traffic.bytesReceivedTotal, previous.traffic.bytesReceivedTotal))
        append(&bytesOut, rate(snapshot.traffic.bytesSentTotal, previous.traffic.bytesSentTotal))
        var depths: [String: [Double]] = [:]
        for queue in snapshot.queues {
            var history = queueDepths[queue.name] ?? []
            append(&history, Double(queue.depth), capacity: 60)
            depths[queue.name] = history
        }
        queueDepths = depths
        if let now = snapshot.latency.publishToDeliver.buckets, let before = previous.latency.publishToDeliver.buckets,
            now.count == before.count
        {
            // Cumulative buckets -> counts per bucket in this interval.
            var column: [Int] = []
            var lastNow = 0
            var lastBefore = 0
            for (a, b) in zip(now, before) {
                column.append(max(0, (a.count - lastNow) - (b.count - lastBefore)))
                lastNow = a.count
                lastBefore = b.count
            }
            latencyColumns.append(column)
            if latencyColumns.count > Self.capacity { latencyColumns.removeFirst(latencyColumns.count - Self.capacity) }
        }
    }

    public mutating func failed(_ reason: String) {
        status = .disconnected(reason)
    }

    private func append(_ series: inout [Double], _ value: Double, capacity: Int = NodeHistory.capacity) {
        series.append(value)
        if series.count > capacity { series.removeFirst(series.count - capacity) }
    }

    /// Seconds between the two snapshots rates are computed from; nil before the second one.
    public var interval: Double? {
        guard let latest, let previous else { return nil }
        return latest.takenAtSeconds - previous.takenAtSeconds
    }

    /// Per-second change of a counter between the last two snapshots.
    public func rate(_ value: (MetricsSnapshot) -> Int) -> Double? {
        guard let latest, let previous, let interval, interval > 0 else { return nil }
        return max(0, Double(value(latest) - value(previous)) / interval)
    }
}
