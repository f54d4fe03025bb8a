/// The durable store's figures (absent from the snapshot when the broker
/// runs without a data directory). Defined in docs/metrics.md.
public struct StorageSnapshot: Codable, Sendable, Equatable {
    /// The data directory, as configured.
    public var directory: String
    /// `always`, `never` or `every <ms>ms`.
    public var fsyncPolicy: String
    /// Bytes in every segment file of the log now.
    public var bytes: Int
    /// Segment files now.
    public var segments: Int
    /// The configured quota in bytes; absent when there is none.
    public var quotaBytes: Int?
    /// True while the store refuses new messages (quota reached or the disk full).
    public var full: Bool
    /// Messages the store holds (queued, in flight, retained, pending wills).
    public var storedMessages: Int
    /// Bytes of records written since start, and records.
    public var writtenBytesTotal: Int
    public var recordsTotal: Int
    /// Writes that failed (disk full, I/O error), since start.
    public var writeErrorsTotal: Int
    /// fsync calls since start, and how long they took.
    public var fsyncLatency: LatencySnapshot
    /// Group commits (one write, and one fsync under `always`) and the
    /// submissions (connection batches) they carried since start: their
    /// ratio is the average group-commit batch size.
    public var commitsTotal: Int
    public var committedSubmissionsTotal: Int
    /// The largest group commit since start, in submissions; absent before
    /// the first commit.
    public var commitBatchMax: Int?
    /// Checkpoints written (the log compacted) since start.
    public var checkpointsTotal: Int
    /// How long recovery took at start, and what it read and dropped.
    public var recoverySeconds: Double
    public var recoveredMessages: Int
    /// Bytes cut from a torn or corrupt tail at start (0 on a clean start).
    public var recoveryTruncatedBytes: Int

    public init(
        directory: String, fsyncPolicy: String, bytes: Int, segments: Int, quotaBytes: Int?, full: Bool,
        storedMessages: Int, writtenBytesTotal: Int, recordsTotal: Int, writeErrorsTotal: Int,
        fsyncLatency: LatencySnapshot, commitsTotal: Int, committedSubmissionsTotal: Int, commitBatchMax: Int?,
        checkpointsTotal: Int,
        recoverySeconds: Double, recoveredMessages: Int, recoveryTruncatedBytes: Int
    ) {
        self.directory = directory
        self.fsyncPolicy = fsyncPolicy
        self.bytes = bytes
        self.segments = segments
        self.quotaBytes = quotaBytes
        self.full = full
        self.storedMessages = storedMessages
        self.writtenBytesTotal = writtenBytesTotal
        self.recordsTotal = recordsTotal
        self.writeErrorsTotal = writeErrorsTotal
        self.fsyncLatency = fsyncLatency
        self.commitsTotal = commitsTotal
        self.committedSubmissionsTotal = committedSubmissionsTotal
        self.commitBatchMax = commitBatchMax
        self.checkpointsTotal = checkpointsTotal
        self.recoverySeconds = recoverySeconds
        self.recoveredMessages = recoveredMessages
        self.recoveryTruncatedBytes = recoveryTruncatedBytes
    }
}
