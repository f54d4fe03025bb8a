import Synchronization

/// What one subscriber received, kept on its channel's event loop (no lock
/// per message): which (publisher, sequence) pairs arrived, so lost and
/// duplicated messages can be told apart, and each first arrival's latency.
/// The runner copies it off the loop once, at the end.
struct Deliveries: Sendable {
    /// One bit per message, `wordsPerPublisher` words for each publisher.
    private(set) var seen: [UInt64]
    let wordsPerPublisher: Int
    let publishers: Int
    let messagesPerPublisher: Int
    /// First arrivals.
    private(set) var unique = 0
    /// Every arrival, duplicates included.
    private(set) var total = 0
    /// Payloads without a bench stamp or with one out of range.
    private(set) var stray = 0
    /// Nanoseconds from send to receive, first arrivals only, at most `latencyCapacity`.
    private(set) var latencies: [UInt64] = []
    let latencyCapacity: Int

    init(publishers: Int, messagesPerPublisher: Int, latencyCapacity: Int) {
        self.publishers = publishers
        self.messagesPerPublisher = messagesPerPublisher
        wordsPerPublisher = (messagesPerPublisher + 63) / 64
        seen = Array(repeating: 0, count: publishers * wordsPerPublisher)
        self.latencyCapacity = latencyCapacity
        // Reserved up front, so recording never reallocates mid-run.
        latencies.reserveCapacity(min(latencyCapacity, publishers * messagesPerPublisher))
    }

    @inline(__always)
    mutating func record(_ stamp: BenchPayload.Stamp?, receivedNanos: UInt64) {
        total += 1
        guard let stamp, Int(stamp.publisher) < publishers, Int(stamp.sequence) < messagesPerPublisher else {
            stray += 1
            return
        }
        let index = Int(stamp.publisher) * wordsPerPublisher + Int(stamp.sequence >> 6)
        let bit: UInt64 = 1 << UInt64(stamp.sequence & 63)
        guard seen[index] & bit == 0 else { return }
        seen[index] |= bit
        unique += 1
        if latencies.count < latencyCapacity { latencies.append(receivedNanos &- stamp.sentNanos) }
    }

    /// Messages of publisher `publisher` below sequence `limit` that never arrived.
    func missing(publisher: Int, below limit: Int) -> Int {
        Self.missing(in: seen, offset: publisher * wordsPerPublisher, below: min(limit, messagesPerPublisher))
    }

    /// The union of several subscribers' arrivals: a consumer group's members
    /// share one stream, so a message is lost only if no member got it.
    static func union(_ all: [Deliveries]) -> [UInt64] {
        guard var merged = all.first?.seen else { return [] }
        for other in all.dropFirst() {
            for index in merged.indices { merged[index] |= other.seen[index] }
        }
        return merged
    }

    static func missing(in bits: [UInt64], offset: Int, below limit: Int) -> Int {
        var present = 0
        let fullWords = limit / 64
        for word in 0..<fullWords { present += bits[offset + word].nonzeroBitCount }
        let rest = limit % 64
        if rest > 0 { present += (bits[offset + fullWords] & ((1 << UInt64(rest)) - 1)).nonzeroBitCount }
        return limit - present
    }
}

/// Arrivals across all subscribers so far, for the runner's progress checks
/// (every 20 ms). Subscribers add to it once per socket read, not per message.
final class ReceiveProgress: Sendable {
    private let uniqueCount = Atomic<Int>(0)
    private let totalCount = Atomic<Int>(0)
    private let lastNanos = Atomic<UInt64>(0)

    func add(unique: Int, total: Int, at nanos: UInt64) {
        uniqueCount.wrappingAdd(unique, ordering: .relaxed)
        totalCount.wrappingAdd(total, ordering: .relaxed)
        // Two subscriber loops may race here: keep the later time.
        var current = lastNanos.load(ordering: .relaxed)
        while current < nanos {
            let (exchanged, original) = lastNanos.compareExchange(expected: current, desired: nanos, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    var unique: Int { uniqueCount.load(ordering: .relaxed) }
    var total: Int { totalCount.load(ordering: .relaxed) }
    /// When the latest message arrived (uptime nanoseconds; 0: none yet).
    var lastReceiveNanos: UInt64 { lastNanos.load(ordering: .relaxed) }
}
