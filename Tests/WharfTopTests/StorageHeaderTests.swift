import Testing
import WharfMetrics

@testable import WharfTop

/// The header's storage line: shown for a durable broker, absent in memory.
@Suite struct StorageHeaderTests {
    static func storage(
        commits: Int, submissions: Int, full: Bool = false, bytes: Int = 12_897_485, quota: Int? = nil, fsync: String = "always"
    ) -> StorageSnapshot {
        StorageSnapshot(
            directory: "/var/lib/wharf", fsyncPolicy: fsync, bytes: bytes, segments: 5, quotaBytes: quota, full: full,
            storedMessages: 4200, writtenBytesTotal: 1_000_000, recordsTotal: 5000, writeErrorsTotal: 0,
            fsyncLatency: fsync == "never" ? TestSnapshots.emptyLatency : TestSnapshots.latency(p99: 0.0012),
            commitsTotal: commits, committedSubmissionsTotal: submissions, commitBatchMax: 40,
            checkpointsTotal: 1, recoverySeconds: 0.2, recoveredMessages: 100, recoveryTruncatedBytes: 0
        )
    }

    /// Two snapshots a second apart: 100 commits carrying 840 submissions, so 8.4 per commit.
    static func node(
        full: Bool = false, bytes: Int = 12_897_485, quota: Int? = nil, fsync: String = "always", url: String = "http://127.0.0.1:18883"
    ) -> NodeHistory {
        var first = TestSnapshots.snapshot(at: 1999)
        first.storage = storage(commits: 1000, submissions: 8000, fsync: fsync)
        var second = TestSnapshots.snapshot(at: 2000)
        second.storage = storage(commits: 1100, submissions: 8840, full: full, bytes: bytes, quota: quota, fsync: fsync)
        return TestSnapshots.node(first, second, url: url)
    }

    static func lines(_ nodes: [NodeHistory], width: Int = 100, height: Int = 30) -> (CellGrid, [String]) {
        let grid = FrameBuilder.build(TestSnapshots.context(nodes), width: width, height: height).grid
        return (grid, grid.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
    }

    /// The fourth header line: bytes and segments, fsync p99, the group-commit batch now; the tabs move down one row.
    @Test func storageLine() {
        let (_, lines) = Self.lines([Self.node()])
        #expect(lines[3].hasPrefix(" disk 12.3 MiB / 5 seg  fsync p99 1.2 ms  batch 8.4 "))
        #expect(!lines[3].contains("FULL"))
        #expect(!lines[0].contains("storage full"))
        #expect(lines[4].contains("1 Queues"), "the tab bar is below the storage line")
        #expect(lines[2].contains("p99 "), "the latency line is unchanged")
    }

    /// A full store: FULL in the theme's critical colour on the storage line, and a flag on the title line.
    @Test func fullStore() {
        let (grid, lines) = Self.lines([Self.node(full: true)])
        #expect(lines[3].hasPrefix(" disk 12.3 MiB / 5 seg  fsync p99 1.2 ms  batch 8.4  FULL "))
        let x = lines[3].distance(from: lines[3].startIndex, to: lines[3].range(of: "FULL")!.lowerBound)
        #expect(grid[x, 3].style == Style(.critical, bold: true))
        #expect(grid[6, 3].style.foreground == .critical, "the disk figure too")
        #expect(lines[0].hasSuffix(" storage full "))
        let flag = lines[0].count - " storage full ".count
        #expect(grid[flag + 1, 0].style == Style(.background, on: .critical, bold: true))
    }

    /// Short terminals keep the 3- or 2-line header: no storage line, but a full store is still flagged.
    @Test(arguments: [20, 12])
    func shortTerminal(height: Int) {
        let (_, lines) = Self.lines([Self.node(full: true)], height: height)
        #expect(!lines.contains { $0.contains("disk ") })
        #expect(lines[0].contains("storage full"))
        #expect(lines[Chrome.headerHeight(height)].contains("1 Queues"))
    }

    /// In memory (no storage in the snapshot): no storage line, the header keeps three rows.
    @Test func absentInMemory() {
        let plain = TestSnapshots.node(TestSnapshots.snapshot(at: 1999), TestSnapshots.snapshot(at: 2000))
        let (_, lines) = Self.lines([plain])
        #expect(!lines.contains { $0.contains("disk ") || $0.contains("fsync") || $0.contains("storage full") })
        #expect(lines[3].contains("1 Queues"))
    }

    /// Within 10% of the quota the disk figure turns warning; fsync never shows as such.
    @Test func nearQuotaAndFsyncNever() {
        let (grid, lines) = Self.lines([Self.node(bytes: 950, quota: 1000, fsync: "never")])
        #expect(lines[3].hasPrefix(" disk 950 B / 5 seg  fsync never  batch 8.4 "))
        #expect(grid[6, 3].style.foreground == .warning)
        let (roomy, _) = Self.lines([Self.node(bytes: 500, quota: 1000)])
        #expect(roomy[6, 3].style.foreground == .foreground)
    }

    /// Several nodes: bytes and segments summed, the worst p99, the batch over all commits.
    @Test func severalNodes() {
        let (_, lines) = Self.lines([Self.node(), Self.node(url: "http://10.0.0.2:18883")], width: 140)
        #expect(lines[3].hasPrefix(" disk 24.6 MiB / 10 seg  fsync p99 1.2 ms  batch 8.4 "))
        #expect(!lines[0].contains("storage full"))
        let (_, fullLines) = Self.lines([Self.node(full: true), Self.node(url: "http://10.0.0.2:18883")], width: 140)
        #expect(fullLines[0].hasSuffix(" 1 storage full "))
    }

    /// Before a second snapshot there is no rate, so no batch size yet.
    @Test func batchNeedsTwoSnapshots() {
        var node = NodeHistory(url: "http://127.0.0.1:18883")
        var snapshot = TestSnapshots.snapshot(at: 2000)
        snapshot.storage = Self.storage(commits: 1100, submissions: 8840)
        node.record(snapshot)
        let (_, lines) = Self.lines([node])
        #expect(lines[3].contains("batch - "))
    }
}

extension StorageHeaderTests {
    static func fsync(_ nanos: [UInt64]) -> LatencySnapshot {
        var histogram = LatencyHistogram()
        for value in nanos { histogram.record(nanos: value) }
        return LatencySnapshot(
            count: histogram.count, sumSeconds: Double(histogram.sumNanos) / 1e9, buckets: histogram.cumulativeBuckets,
            windowSeconds: 0, windowCount: histogram.count, p50: histogram.quantileSeconds(0.5), p90: histogram.quantileSeconds(0.9),
            p99: histogram.quantileSeconds(0.99), p999: histogram.quantileSeconds(0.999), max: Double(histogram.maxNanos) / 1e9
        )
    }

    /// fsync p99 is over the fsyncs since the previous snapshot, from the
    /// buckets: a disk that just slowed down shows now, not diluted by the
    /// fast fsyncs before.
    @Test func fsyncP99OverTheInterval() {
        let fast = Array(repeating: UInt64(200_000), count: 10_000)  // 0.2 ms each
        let slow = Array(repeating: UInt64(2_000_000), count: 100)  // then 100 of 2 ms
        var first = TestSnapshots.snapshot(at: 1999)
        first.storage = Self.storage(commits: 1000, submissions: 8000)
        first.storage!.fsyncLatency = Self.fsync(fast)
        var second = TestSnapshots.snapshot(at: 2000)
        second.storage = Self.storage(commits: 1100, submissions: 8840)
        second.storage!.fsyncLatency = Self.fsync(fast + slow)
        #expect(second.storage!.fsyncLatency.p99! < 0.001, "since start, p99 is still a fast fsync")
        let node = TestSnapshots.node(first, second)
        let p99 = try! #require(StorageFigures.fsyncP99([node]))
        #expect(p99 > 0.001 && p99 <= 0.002, "in the interval every fsync took 2 ms: \(p99)")
        let (_, lines) = Self.lines([node])
        #expect(lines[3].contains("fsync p99 2.0 ms"))

        // No fsync in the interval: the broker's own figure.
        var idle = second
        idle.takenAtSeconds = 2001
        var quiet = node
        quiet.record(idle)
        #expect(StorageFigures.fsyncP99([quiet]) == second.storage!.fsyncLatency.p99)
    }

    /// The interpolation matches histogram_quantile: linear inside the bucket, the last finite bound for +Inf, capped at the largest value.
    @Test func quantileFromBuckets() {
        let bounds = [0.001, 0.01, Double.infinity]
        #expect(abs(StorageFigures.quantile(0.5, bounds: bounds, cumulative: [0, 10, 10], largest: nil)! - 0.0055) < 1e-12)
        #expect(StorageFigures.quantile(0.99, bounds: bounds, cumulative: [0, 0, 4], largest: nil) == 0.01)
        #expect(StorageFigures.quantile(0.5, bounds: bounds, cumulative: [0, 10, 10], largest: 0.004) == 0.004)
        #expect(StorageFigures.quantile(0.5, bounds: bounds, cumulative: [0, 0, 0], largest: nil) == nil)
    }
}
