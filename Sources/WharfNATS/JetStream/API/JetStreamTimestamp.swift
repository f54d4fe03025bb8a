import Foundation

/// A point in time as JetStream writes it: RFC 3339 with up to nine
/// fractional digits (`2026-12-05T17:09:31.561303589Z`), or Go's zero time
/// `0001-01-01T00:00:00Z` for "never" (the first and last times of an empty
/// stream).
///
/// Kept as seconds and nanoseconds rather than `Date` so nothing is lost:
/// a `Date` is a Double and rounds nanoseconds, and the same instants come
/// back as exact nanosecond counts in ack subjects and `Nats-Time-Stamp`
/// headers, which we want to compare exactly. Parsing is our own because
/// Foundation's ISO 8601 formatter stops at milliseconds.
public struct JetStreamTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z (negative before it).
    public var secondsSinceEpoch: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: Int32

    /// Go's `time.Time{}`, which the server sends for times never set.
    public static let zero = JetStreamTimestamp(secondsSinceEpoch: -62_135_596_800, nanoseconds: 0)

    public init(secondsSinceEpoch: Int64, nanoseconds: Int32) {
        precondition(nanoseconds >= 0 && nanoseconds < 1_000_000_000)
        self.secondsSinceEpoch = secondsSinceEpoch
        self.nanoseconds = nanoseconds
    }

    /// From a Unix nanosecond count, the form of ack subjects' timestamps.
    public init(nanosecondsSinceEpoch: Int64) {
        var seconds = nanosecondsSinceEpoch / 1_000_000_000
        var rest = nanosecondsSinceEpoch % 1_000_000_000
        if rest < 0 {
            seconds -= 1
            rest += 1_000_000_000
        }
        self.init(secondsSinceEpoch: seconds, nanoseconds: Int32(rest))
    }

    /// Whether this is Go's zero time ("not set").
    public var isZero: Bool { self == .zero }

    /// Unix nanoseconds, nil outside Int64's range (years 1678 to 2262),
    /// which includes the zero time.
    public var nanosecondsSinceEpoch: Int64? {
        let (scaled, overflowed) = secondsSinceEpoch.multipliedReportingOverflow(by: 1_000_000_000)
        if overflowed { return nil }
        let (sum, overflowedSum) = scaled.addingReportingOverflow(Int64(nanoseconds))
        return overflowedSum ? nil : sum
    }

    /// The nearest `Date` (sub-microsecond precision is lost).
    public var date: Date {
        Date(timeIntervalSince1970: Double(secondsSinceEpoch) + Double(nanoseconds) / 1e9)
    }

    public static func < (lhs: JetStreamTimestamp, rhs: JetStreamTimestamp) -> Bool {
        (lhs.secondsSinceEpoch, lhs.nanoseconds) < (rhs.secondsSinceEpoch, rhs.nanoseconds)
    }

    public var description: String { rfc3339 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = JetStreamTimestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text)")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}
