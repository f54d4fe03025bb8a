import Foundation

/// How the durable store is set up (`[storage]` in the config file).
public struct StorageOptions: Sendable, Equatable {
    /// When a write is made durable.
    public enum FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
        /// Before any client is answered: a QoS 1/2 PUBLISH is acknowledged
        /// only once its record is on disk. Group commit shares one fsync
        /// among everything submitted meanwhile.
        case always
        /// At most this long after a write (a crash can lose that much).
        case every(milliseconds: Int)
        /// Left to the kernel (a crash of the machine, not just the broker,
        /// can lose what it had not written back yet).
        case never

        /// `always`, `never`, or `every 50ms` (also `every 50`).
        public init?(parsing text: String) {
            let words = text.lowercased().split(separator: " ", omittingEmptySubsequences: true)
            switch words.first {
            case "always" where words.count == 1: self = .always
            case "never" where words.count == 1: self = .never
            case "every" where words.count == 2:
                let number = words[1].hasSuffix("ms") ? words[1].dropLast(2) : words[1]
                guard let ms = Int(number), ms > 0 else { return nil }
                self = .every(milliseconds: ms)
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .always: "always"
            case .never: "never"
            case .every(let ms): "every \(ms)ms"
            }
        }
    }

    public var directory: String
    public var fsync: FsyncPolicy
    /// A segment is closed and a new one started past this size.
    public var segmentBytes: Int
    /// The store refuses new messages past this many bytes on disk (nil: no quota).
    public var quotaBytes: Int?
    /// How long publisher de-duplication ids are kept (checkpoints drop older ones).
    public var dedupWindowSeconds: Double

    public init(
        directory: String = "wharf-data", fsync: FsyncPolicy = .always, segmentBytes: Int = 64 << 20,
        quotaBytes: Int? = nil, dedupWindowSeconds: Double = 300
    ) {
        self.directory = directory
        self.fsync = fsync
        self.segmentBytes = segmentBytes
        self.quotaBytes = quotaBytes
        self.dedupWindowSeconds = dedupWindowSeconds
    }

    /// `512`, `64KiB`, `10MB`, `2GiB`, `1G`: bytes, with binary or decimal units.
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard let value = Int(digits), value > 0 else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let factor: Int? =
            switch unit {
            case "", "b": 1
            case "k", "kib": 1 << 10
            case "m", "mib": 1 << 20
            case "g", "gib": 1 << 30
            case "t", "tib": 1 << 40
            case "kb": 1_000
            case "mb": 1_000_000
            case "gb": 1_000_000_000
            case "tb": 1_000_000_000_000
            default: nil
            }
        guard let factor else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
}
