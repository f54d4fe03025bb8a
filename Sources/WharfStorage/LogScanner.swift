import NIOCore

/// What reading a data directory found.
public struct RecoveryReport: Sendable {
    public var segments = 0
    public var records = 0
    public var bytes = 0
    /// Bytes cut from a torn or corrupt tail of the newest segment.
    public var truncatedBytes = 0
    /// One line per problem: file, offset, what was wrong, what was done.
    public var problems: [String] = []
    /// Older segments a complete checkpoint makes redundant (deleted after recovery).
    public var supersededSegments: [UInt64] = []
    /// Segments with a corrupt record in the middle: kept, renamed, after the next checkpoint.
    public var corruptSegments: [UInt64] = []
    /// Segment number, bytes, and records per kind, for `wharf storage inspect`.
    public var perSegment: [(number: UInt64, bytes: Int, records: [String: Int])] = []
    public var seconds = 0.0
}

/// Reads segments frame by frame, checking length and CRC-32C.
enum LogScanner {
    static let frameHeader = 8
    /// No record is larger (a message is at most the MQTT packet limit, 256 MiB).
    static let maxBody = 300 << 20

    /// Replays every segment in `directory` in order into `visit`. A bad frame
    /// in the newest segment is a torn write: with `repair` the file is cut
    /// there. Anywhere else it is corruption: reported with its offset, the
    /// rest of that segment skipped, and later segments still read.
    static func scan(
        directory: String, repair: Bool,
        visit: (ByteBuffer, DurableState.Location) throws(RecordDecodeError) -> Void,
        segmentStarted: () -> Void = {}, reserve: (Int) -> Void = { _ in }
    ) throws(StorageError) -> RecoveryReport {
        var report = RecoveryReport()
        let numbers = try SegmentFiles.list(directory)
        reserve(numbers.reduce(0) { $0 + SegmentFiles.size(SegmentFiles.path(directory, $1)) })
        for (position, number) in numbers.enumerated() {
            let path = SegmentFiles.path(directory, number)
            let isNewest = position == numbers.count - 1
            let file = try SegmentFiles.read(path)
            report.segments += 1
            report.bytes += file.readableBytes
            segmentStarted()
            var kinds: [String: Int] = [:]
            var offset = SegmentFiles.magic.count
            var problem: String?
            var firstKind: UInt8?
            var sawCheckpointEnd = false
            if file.readableBytes < offset || file.getBytes(at: 0, length: offset) != SegmentFiles.magic {
                problem = file.readableBytes < offset ? "shorter than its header" : "not a Wharf segment (bad magic)"
                offset = 0
            }
            while problem == nil && offset < file.readableBytes {
                guard file.readableBytes - offset >= frameHeader,
                    let length = file.getInteger(at: offset, endianness: .little, as: UInt32.self),
                    let crc = file.getInteger(at: offset + 4, endianness: .little, as: UInt32.self)
                else {
                    problem = "record header cut short"
                    break
                }
                let bodyLength = Int(length)
                guard bodyLength > 0, bodyLength <= maxBody, file.readableBytes - offset - frameHeader >= bodyLength else {
                    problem = "record length \(bodyLength) runs past the end"
                    break
                }
                guard CRC32C.checksum(file, at: offset + frameHeader, length: bodyLength) == crc else {
                    problem = "checksum mismatch"
                    break
                }
                let body = file.getSlice(at: offset + frameHeader, length: bodyLength)!
                let kind = body.getInteger(at: body.readerIndex, as: UInt8.self) ?? 0
                if firstKind == nil { firstKind = kind }
                if kind == StorageRecord.Kind.checkpointEnd.rawValue { sawCheckpointEnd = true }
                do {
                    try visit(body, DurableState.Location(segment: number, offset: offset, length: frameHeader + bodyLength))
                } catch {
                    problem = "\(error)"
                    break
                }
                kinds[name(kind), default: 0] += 1
                report.records += 1
                offset += frameHeader + bodyLength
            }
            report.perSegment.append((number, file.readableBytes, kinds))
            if firstKind == StorageRecord.Kind.checkpointBegin.rawValue, sawCheckpointEnd {
                report.supersededSegments = numbers.filter { $0 < number }
            }
            guard let problem else { continue }
            let dropped = file.readableBytes - offset
            if isNewest {
                report.truncatedBytes += dropped
                report.problems.append(
                    "\(path): \(problem) at offset \(offset); the last \(dropped) bytes (an interrupted write) \(repair ? "were cut off" : "would be cut off")"
                )
                if repair { try SegmentFiles.truncate(path, to: max(offset, 0)) }
            } else {
                report.corruptSegments.append(number)
                report.problems.append(
                    "\(path): corrupt: \(problem) at offset \(offset); \(dropped) bytes after it skipped, later segments still read")
            }
        }
        return report
    }

    static func name(_ kind: UInt8) -> String {
        switch StorageRecord.Kind(rawValue: kind) {
        case .message: "message"
        case .enqueue: "enqueue"
        case .remove: "remove"
        case .sent: "sent"
        case .released: "released"
        case .session: "session"
        case .sessionEnd: "session-end"
        case .sessionOffline: "session-offline"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .group: "group"
        case .groupEnd: "group-end"
        case .retain: "retain"
        case .will: "will"
        case .inbound: "inbound"
        case .dedup: "dedup"
        case .checkpointBegin: "checkpoint-begin"
        case .checkpointEnd: "checkpoint-end"
        case nil: "unknown"
        }
    }
}
