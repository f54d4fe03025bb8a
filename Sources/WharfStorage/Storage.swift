import Atomics
import Foundation
import NIOCore
import Synchronization
import WharfMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// The durable store: an append-only, segmented log in one data directory.
///
/// Connections encode records into their own `StorageBatch` and submit it
/// once per read batch (one lock, one copy). A dedicated writer thread takes
/// everything submitted since its last pass, writes it with one `write`,
/// makes it durable with one `fsync` (group commit: many publishes share
/// it), then tells each submitter, which answers its clients. No event loop
/// ever blocks on the disk.
///
/// The writer keeps `DurableState` current as it writes; when the log has
/// grown well past what is still live it writes a checkpoint (the live state,
/// into a new segment) and deletes the older segments.
public final class Storage: @unchecked Sendable {
    public let options: StorageOptions
    private let lockFD: Int32
    private let messageIds: ManagedAtomic<UInt64>
    private let queueIds: ManagedAtomic<UInt64>
    private let full = ManagedAtomic<Bool>(false)
    private let log: @Sendable (String) -> Void

    /// Submissions waiting for the writer (guarded by `condition`).
    private let condition = NSCondition()
    private var pending = ByteBuffer()
    private var callbacks: [@Sendable (Bool) -> Void] = []
    private var submissions = 0
    private var stopping = false
    private var thread: Thread?
    private let finished = NSCondition()
    private var isFinished = false

    // Writer-thread state.
    private var state: DurableState
    private var active: ActiveSegment?
    private var segmentSizes: [UInt64: Int] = [:]
    private var corruptSegments: Set<UInt64> = []
    private var lastFsync = Clock.now
    private var unsyncedWrites = false
    private var checkpointWanted = false

    private let statistics: Mutex<Statistics>
    private let recovery: RecoveryReport
    private let recoveredMessages: Int

    struct Statistics {
        var bytes = 0
        var segments = 0
        var storedMessages = 0
        var written = 0
        var records = 0
        var errors = 0
        var commits = 0
        var committedSubmissions = 0
        var commitMax = 0
        var checkpoints = 0
        /// Since start (count, sum, Prometheus buckets), and the recent
        /// window the quantiles come from, as for message latency.
        var fsync = LatencyHistogram()
        var recentFsync = RecentWindow(LatencyHistogram(), periodNanos: 30_000_000_000, now: Clock.now)
    }

    private enum Clock {
        static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }
    }

    /// Opens (creating if needed) and recovers a data directory. The broker
    /// restores from `withRecoveredState` (message bodies included), then
    /// calls `start()`.
    public static func open(
        _ options: StorageOptions, log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(StorageError) -> (Storage, RecoveryReport) {
        let started = Clock.now
        try SegmentFiles.makeDirectory(options.directory)
        let lockPath = options.directory + "/lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(path: lockPath, operation: "open", code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw StorageError(path: options.directory, operation: "lock (is another wharf using it?)", code: code)
        }
        var state = DurableState(keepsBodies: true)
        var report = try LogScanner.scan(
            directory: options.directory, repair: true,
            visit: { (body, location) throws(RecordDecodeError) in try state.apply(body: body, at: location) },
            segmentStarted: { state.segmentStarted() },
            reserve: { bytes in state.reserve(logBytes: bytes) }
        )
        report.seconds = Double(Clock.now - started) / 1e9
        for problem in report.problems { log(problem) }
        let storage = Storage(options: options, lockFD: fd, state: consume state, report: report, log: log)
        return (storage, report)
    }

    /// Lends the recovered state (before `start()`). Lent, not returned: a
    /// copy kept elsewhere would make `start()` copy a million entries when
    /// it drops the message bodies.
    public func withRecoveredState<Result>(_ body: (DurableState) throws -> Result) rethrows -> Result {
        try body(state)
    }

    private init(
        options: StorageOptions, lockFD: Int32, state: DurableState, report: RecoveryReport, log: @escaping @Sendable (String) -> Void
    ) {
        self.options = options
        self.lockFD = lockFD
        self.state = state
        self.recovery = report
        self.recoveredMessages = state.messages.count
        self.log = log
        messageIds = ManagedAtomic(state.nextMessageId)
        queueIds = ManagedAtomic(state.nextQueueId)
        statistics = Mutex(Statistics())
        pending.reserveCapacity(1 << 20)
        for segment in report.perSegment { segmentSizes[segment.number] = segment.bytes }
        // Segments holding nothing but their header (a start with no traffic after it).
        for segment in report.perSegment where segment.bytes <= SegmentFiles.magic.count {
            SegmentFiles.remove(SegmentFiles.path(options.directory, segment.number))
            segmentSizes.removeValue(forKey: segment.number)
        }
        for number in report.supersededSegments {
            SegmentFiles.remove(SegmentFiles.path(options.directory, number))
            segmentSizes.removeValue(forKey: number)
        }
        corruptSegments = Set(report.corruptSegments).subtracting(report.supersededSegments)
        checkpointWanted = !corruptSegments.isEmpty
    }

    /// Starts the writer on a new segment. `recovered` is the state `open`
    /// returned (its bodies are dropped: the broker holds the messages now).
    public func start() throws(StorageError) {
        state.dropBodies()
        let next = (segmentSizes.keys.max() ?? 0) + 1
        let segment = try ActiveSegment(directory: options.directory, number: next)
        segmentSizes[next] = segment.size
        active = segment
        state.segmentStarted()
        publishStatistics()
        let thread = Thread { [self] in self.run() }
        thread.name = "wharf-storage"
        self.thread = thread
        thread.start()
    }

    // MARK: Ids

    /// A message id, unique for the life of the data directory.
    @inline(__always)
    public func nextMessageId() -> UInt64 { messageIds.loadThenWrappingIncrement(ordering: .relaxed) }
    public func nextQueueId() -> UInt64 { queueIds.loadThenWrappingIncrement(ordering: .relaxed) }

    /// False while the quota is reached or the disk is full: new messages
    /// are refused (publishers get a reason code), everything else is kept.
    @inline(__always)
    public var acceptsMessages: Bool { !full.load(ordering: .relaxed) }

    // MARK: Submitting

    /// Hands a batch to the writer and empties it. `whenDone` runs on the
    /// writer thread once the batch is durable (true) or could not be
    /// written (false); it must only hop to where it needs to be.
    public func submit(_ batch: inout StorageBatch, whenDone: (@Sendable (Bool) -> Void)? = nil) {
        guard !batch.isEmpty || whenDone != nil else { return }
        condition.lock()
        var bytes = batch.bytes
        pending.writeBuffer(&bytes)
        if let whenDone { callbacks.append(whenDone) }
        submissions += 1
        condition.signal()
        condition.unlock()
        batch.reset()
    }

    /// Writes and syncs what is pending, checkpoints nothing, and stops the writer.
    public func close() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        finished.lock()
        while thread != nil && !isFinished { finished.wait() }
        finished.unlock()
        flock(lockFD, LOCK_UN)
        Glibc.close(lockFD)
    }

    // MARK: The writer thread

    private func run() {
        var batch = ByteBuffer()
        batch.reserveCapacity(1 << 20)
        var done: [@Sendable (Bool) -> Void] = []
        while true {
            condition.lock()
            while pending.readableBytes == 0 && callbacks.isEmpty && !stopping {
                if !condition.wait(until: Date().addingTimeInterval(waitSeconds())) { break }
            }
            swap(&pending, &batch)
            swap(&callbacks, &done)
            let count = submissions
            submissions = 0
            let stop = stopping
            condition.unlock()

            if batch.readableBytes > 0 || !done.isEmpty {
                // A callback with no bytes of its own waits on records
                // submitted before it: written (and synced) in this pass or an earlier one.
                let ok = batch.readableBytes > 0 ? commit(batch, submissions: count) : true
                publishStatistics()  // a submitter reading the snapshot next sees its own records
                for callback in done { callback(ok) }
                batch.clear()
                done.removeAll(keepingCapacity: true)
            }
            if case .every(let ms) = options.fsync, unsyncedWrites, Clock.now &- lastFsync >= UInt64(ms) * 1_000_000 {
                _ = syncActive()
            }
            housekeeping()
            if stop {
                condition.lock()
                let empty = pending.readableBytes == 0
                condition.unlock()
                guard empty else { continue }
                if unsyncedWrites { _ = syncActive() }
                finished.lock()
                isFinished = true
                finished.broadcast()
                finished.unlock()
                return
            }
        }
    }

    private func waitSeconds() -> Double {
        if case .every(let ms) = options.fsync, unsyncedWrites { return Double(ms) / 1000 }
        return 1
    }

    /// One group commit: write, keep the state current, and sync (policy `always`).
    private func commit(_ batch: ByteBuffer, submissions: Int) -> Bool {
        guard let segment = active else { return false }
        let base = segment.size
        do {
            try segment.write(batch)
        } catch {
            fail(error)
            return false
        }
        segmentSizes[segment.number] = segment.size
        var offset = 0
        var records = 0
        let bytes = batch.readableBytes
        while offset + LogScanner.frameHeader <= bytes {
            let length = Int(batch.getInteger(at: batch.readerIndex + offset, endianness: .little, as: UInt32.self)!)
            let body = batch.getSlice(at: batch.readerIndex + offset + LogScanner.frameHeader, length: length)!
            let location = DurableState.Location(segment: segment.number, offset: base + offset, length: LogScanner.frameHeader + length)
            do { try state.apply(body: body, at: location) } catch {
                log("storage: \(error) (written at \(segment.path) offset \(base + offset))")
            }
            offset += LogScanner.frameHeader + length
            records += 1
        }
        unsyncedWrites = true
        if options.fsync == .always, !syncActive() { return false }
        statistics.withLock { stats in
            stats.written += bytes
            stats.records += records
            stats.commits += 1
            stats.committedSubmissions += submissions
            stats.commitMax = max(stats.commitMax, submissions)
        }
        return true
    }

    private func syncActive() -> Bool {
        guard let segment = active else { return false }
        let start = Clock.now
        do {
            try segment.sync()
        } catch {
            fail(error)
            return false
        }
        let took = Clock.now &- start
        lastFsync = Clock.now
        unsyncedWrites = false
        let now = Clock.now
        statistics.withLock { stats in
            stats.fsync.record(nanos: took)
            stats.recentFsync.update(now: now) { $0.record(nanos: took) }
        }
        return true
    }

    private func fail(_ error: StorageError) {
        log("storage: \(error)\(error.isDiskFull ? "; refusing new messages until there is room" : "")")
        statistics.withLock { $0.errors += 1 }
        if error.isDiskFull { full.store(true, ordering: .relaxed) }
    }

    /// Rolls the segment when it is full, checkpoints when the log is mostly
    /// garbage, and re-checks the quota and the disk.
    private func housekeeping() {
        guard let segment = active else { return }
        let total = segmentSizes.values.reduce(0, +)
        let garbage = total - state.liveMessageBytes
        let reclaimable = garbage > max(options.segmentBytes, state.liveMessageBytes)
        if segment.size >= options.segmentBytes || checkpointWanted || (full.load(ordering: .relaxed) && reclaimable) {
            if checkpointWanted || reclaimable {
                checkpoint()
            } else {
                roll()
            }
        }
        let now = segmentSizes.values.reduce(0, +)
        var isFull = false
        if let quota = options.quotaBytes {
            isFull = full.load(ordering: .relaxed) ? now >= quota - quota / 20 : now >= quota
        }
        if !isFull, let free = SegmentFiles.freeBytes(options.directory), free < options.segmentBytes / 4 {
            isFull = true
        }
        if isFull != full.load(ordering: .relaxed) {
            log(
                isFull
                    ? "storage: full (\(now) bytes on disk\(options.quotaBytes.map { ", quota \($0)" } ?? "")); refusing new messages"
                    : "storage: room again; accepting messages")
            full.store(isFull, ordering: .relaxed)
        }
        publishStatistics()
    }

    private func roll() {
        guard let segment = active else { return }
        if unsyncedWrites { _ = syncActive() }
        do {
            let next = try ActiveSegment(directory: options.directory, number: segment.number + 1)
            active = next
            segmentSizes[next.number] = next.size
            state.segmentStarted()
        } catch {
            fail(error)
        }
    }

    /// Writes the live state into a new segment, then deletes every older one
    /// (a segment with corruption in it is kept, renamed `.corrupt`).
    private func checkpoint() {
        guard let old = active else { return }
        checkpointWanted = false
        if unsyncedWrites { _ = syncActive() }
        let started = Clock.now
        do {
            let segment = try ActiveSegment(directory: options.directory, number: old.number + 1)
            state.segmentStarted()
            state.dropExpired(before: UInt64(Date().timeIntervalSince1970 * 1e9))
            state.sweepUnreferenced()
            state.ageEarlyRecords()
            state.prune(dedupBefore: UInt64(max(0, Date().timeIntervalSince1970 - options.dedupWindowSeconds) * 1e9))
            var out = StorageBatch(capacity: 1 << 20)
            out.checkpointBegin(nextMessageId: messageIds.load(ordering: .relaxed), nextQueueId: queueIds.load(ordering: .relaxed))
            for (id, queue) in state.queues {
                switch queue.kind {
                case .session(let clientId, let expiry):
                    out.session(queue: id, clientId: clientId, expiryInterval: expiry)
                    if queue.expiresAt != 0 { out.sessionOffline(queue: id, expiresAt: queue.expiresAt) }
                case .group(let name, let filter): out.group(queue: id, name: name, filter: filter)
                }
                for (filter, sub) in queue.subscriptions {
                    out.subscribe(queue: id, filter: filter, options: sub.options, identifier: sub.identifier)
                }
                for packetId in queue.inbound { out.inbound(queue: id, packetId: packetId, awaiting: true) }
            }
            // Message records are copied byte for byte from where they sit.
            var files: [UInt64: Int32] = [:]
            defer { for fd in files.values { Glibc.close(fd) } }
            var frame = ByteBuffer()
            var moved: [(UInt64, DurableState.Location)] = []
            for (id, info) in state.messages {
                let number = info.location.segment
                let path = SegmentFiles.path(options.directory, number)
                if files[number] == nil {
                    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw StorageError(path: path, operation: "open", code: errno) }
                    files[number] = fd
                }
                frame.clear()
                try SegmentFiles.read(
                    fd: files[number]!, path: path, offset: info.location.offset, length: info.location.length, into: &frame)
                moved.append(
                    (
                        id,
                        DurableState.Location(
                            segment: segment.number, offset: segment.size + out.bytes.readableBytes, length: info.location.length)
                    ))
                out.appendFrame(frame)
                if out.bytes.readableBytes >= 4 << 20 {
                    try segment.write(out.bytes)
                    out.reset()
                }
            }
            for (queueId, queue) in state.queues {
                for (messageId, entry) in queue.entries.sorted(by: { $0.key < $1.key }) {
                    out.enqueue(entry.entry)
                    if let packetId = entry.packetId { out.sent(queue: queueId, message: messageId, packetId: packetId) }
                    if entry.released { out.released(queue: queueId, message: messageId) }
                }
            }
            for (topic, message) in state.retained { out.retain(topic: topic, message: message) }
            for (clientId, will) in state.wills { out.will(clientId: clientId, message: will.message, deadline: will.deadline) }
            for (key, seenAt) in state.dedup {
                let parts = key.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { out.dedup(topic: String(parts[0]), id: String(parts[1]), seenAt: seenAt) }
            }
            // Records still waiting for their message are kept for when it comes.
            for key in state.early.removals.keys { out.remove(queue: key.queue, message: key.message) }
            for (key, handshake) in state.early.handshakes {
                if let packetId = handshake.packetId { out.sent(queue: key.queue, message: key.message, packetId: packetId) }
                if handshake.released { out.released(queue: key.queue, message: key.message) }
            }
            for waiting in state.early.enqueues.values {
                for entry in waiting.entries { out.enqueue(entry) }
            }
            out.checkpointEnd()
            try segment.write(out.bytes)
            try segment.sync()
            for (id, location) in moved { state.relocate(id, to: location) }
            active = segment
            segmentSizes[segment.number] = segment.size
            for number in segmentSizes.keys where number < segment.number {
                let path = SegmentFiles.path(options.directory, number)
                if corruptSegments.contains(number) {
                    SegmentFiles.rename(path, path + ".corrupt")
                    log("storage: kept \(path) as \(path).corrupt for inspection")
                } else {
                    SegmentFiles.remove(path)
                }
                segmentSizes.removeValue(forKey: number)
            }
            corruptSegments.removeAll()
            SegmentFiles.syncDirectory(options.directory)
            statistics.withLock { $0.checkpoints += 1 }
            log(
                "storage: checkpoint of \(state.messages.count) messages, \(state.queues.count) queues into \(segment.path) in \(String(format: "%.3f", Double(Clock.now - started) / 1e9)) s"
            )
        } catch let error as StorageError {
            fail(error)
            SegmentFiles.remove(SegmentFiles.path(options.directory, old.number + 1))
            active = old
        } catch {
            log("storage: checkpoint failed: \(error)")
            active = old
        }
    }

    private func publishStatistics() {
        let bytes = segmentSizes.values.reduce(0, +)
        let segments = segmentSizes.count
        let stored = state.messages.count
        statistics.withLock { stats in
            stats.bytes = bytes
            stats.segments = segments
            stats.storedMessages = stored
        }
    }

    // MARK: Metrics

    public func snapshot() -> StorageSnapshot {
        let stats = statistics.withLock { $0 }
        let fsync = stats.fsync
        let (recent, seconds) = stats.recentFsync.reading(now: Clock.now)
        let fsyncSnapshot = LatencySnapshot(
            count: fsync.count, sumSeconds: Double(fsync.sumNanos) / 1e9, buckets: fsync.cumulativeBuckets,
            windowSeconds: seconds, windowCount: recent.count,
            p50: recent.quantileSeconds(0.5), p90: recent.quantileSeconds(0.9), p99: recent.quantileSeconds(0.99),
            p999: recent.quantileSeconds(0.999), max: recent.isEmpty ? nil : Double(recent.maxNanos) / 1e9
        )
        return StorageSnapshot(
            directory: options.directory, fsyncPolicy: options.fsync.description, bytes: stats.bytes, segments: stats.segments,
            quotaBytes: options.quotaBytes, full: full.load(ordering: .relaxed), storedMessages: stats.storedMessages,
            writtenBytesTotal: stats.written, recordsTotal: stats.records, writeErrorsTotal: stats.errors,
            fsyncLatency: fsyncSnapshot, commitsTotal: stats.commits, committedSubmissionsTotal: stats.committedSubmissions,
            commitBatchMax: stats.commits > 0 ? stats.commitMax : nil, checkpointsTotal: stats.checkpoints,
            recoverySeconds: recovery.seconds, recoveredMessages: recoveredMessages, recoveryTruncatedBytes: recovery.truncatedBytes
        )
    }

}

extension Storage {
    /// Reads a data directory without changing it (no lock, no repair), for
    /// `wharf storage inspect`: what recovery would find.
    public static func inspect(_ directory: String) throws(StorageError) -> (DurableState, RecoveryReport) {
        let started = Clock.now
        var state = DurableState(keepsBodies: false)
        var report = try LogScanner.scan(
            directory: directory, repair: false,
            visit: { (body, location) throws(RecordDecodeError) in try state.apply(body: body, at: location) },
            segmentStarted: { state.segmentStarted() }
        )
        report.seconds = Double(Clock.now - started) / 1e9
        return (state, report)
    }
}
