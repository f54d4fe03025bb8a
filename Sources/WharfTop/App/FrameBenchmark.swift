import Foundation
import WharfMetrics

/// Times what `top` does each refresh for a big broker: build the rows,
/// sort, lay out a frame and diff it against the previous one. Used by
/// `wharf bench-top`; the goal is under 5 ms for 1,000 queues.
public enum FrameBenchmark {
    public static func run(queues: Int, width: Int = 160, height: Int = 50, frames: Int = 50) -> (
        medianMilliseconds: Double, maxMilliseconds: Double
    ) {
        var node = NodeHistory(url: "http://127.0.0.1:18883")
        var times: [Double] = []
        var previous: CellGrid?
        for frame in 0..<(frames + 2) {
            node.record(snapshot(queues: queues, at: 1000 + Double(frame)))
            let start = DispatchTime.now().uptimeNanoseconds
            var view = ViewState()
            view.selection = frame % max(1, queues)
            let context = FrameContext(nodes: [node], view: view, thresholds: Thresholds(), nowSeconds: 1000 + Double(frame))
            let built = FrameBuilder.build(context, width: width, height: height)
            let runs = built.grid.changes(since: previous)
            previous = built.grid
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            precondition(!runs.isEmpty || frame > 0)
            if frame >= 2 { times.append(elapsed) }  // the first two have no rates yet
        }
        times.sort()
        return (times[times.count / 2], times.last ?? 0)
    }

    static func snapshot(queues: Int, at time: Double) -> MetricsSnapshot {
        let tick = Int(time)
        let latency = LatencySnapshot(
            count: tick, sumSeconds: 1, buckets: nil, windowSeconds: 30, windowCount: 100, p50: 0.001, p90: 0.004, p99: 0.02, p999: 0.05,
            max: 0.1)
        return MetricsSnapshot(
            version: "bench", startTimeSeconds: 0, takenAtSeconds: time, uptimeSeconds: time,
            connections: .init(current: queues, maximum: 10_000, acceptedTotal: queues, rejectedTotal: [:], closedByServerTotal: [:]),
            sessions: .init(online: queues, offline: 0), subscriptions: queues, retainedMessages: 0,
            traffic: .init(
                packetsReceivedTotal: [:], packetsSentTotal: [:], bytesReceivedTotal: tick * 1000, bytesSentTotal: tick * 2000,
                malformedPacketsTotal: 0),
            messages: .init(
                receivedTotal: tick * 100, deliveredTotal: tick * 200, redeliveredTotal: 0, droppedTotal: ["queue_full": tick],
                payloadBytesReceivedTotal: 0, payloadBytesDeliveredTotal: 0),
            latency: .init(publishToDeliver: latency, publishToAcknowledge: latency),
            topics: .init(seriesLimit: 100, topics: [], other: .init(name: "", messagesTotal: 0, bytesTotal: 0), prefixes: []),
            queues: (0..<queues).map { i in
                QueueSnapshot(
                    name: "device-\(i)", consumers: 1, depth: (i * 7 + tick) % 1000, inflight: i % 20, enqueuedTotal: tick * i,
                    deliveredTotal: tick * i - i, acknowledgedTotal: tick * i - i, lagMessages: (i * 7 + tick) % 1000,
                    lagSeconds: Double((i + tick) % 90), oldestMessageAgeSeconds: 1, deliverLatency: latency, acknowledgeLatency: latency
                )
            }
        )
    }
}
