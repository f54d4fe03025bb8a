/// JetStream carries every duration as Go's `time.Duration`: a signed 64-bit
/// count of nanoseconds. These helpers are the one place that converts, so a
/// `Duration` in our types always means the same wire number.
extension Duration {
    /// Whole nanoseconds (truncated toward zero), saturating at Int64's range
    /// (about ±292 years) rather than trapping on an absurd configuration.
    public var jetStreamNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflowed) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflowed { return seconds < 0 ? .min : .max }
        let (sum, overflowedSum) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflowedSum { return seconds < 0 ? .min : .max }
        return sum
    }

    /// The duration a JetStream nanosecond count stands for.
    public init(jetStreamNanoseconds nanoseconds: Int64) {
        self = .nanoseconds(nanoseconds)
    }
}

extension KeyedEncodingContainer {
    mutating func encodeNanoseconds(_ duration: Duration, forKey key: Key) throws {
        try encode(duration.jetStreamNanoseconds, forKey: key)
    }

    /// Omits the key for nil, like Go's `omitempty` on a zero duration.
    mutating func encodeNanosecondsIfPresent(_ duration: Duration?, forKey key: Key) throws {
        guard let duration else { return }
        try encode(duration.jetStreamNanoseconds, forKey: key)
    }

    mutating func encodeNanosecondsIfPresent(_ durations: [Duration]?, forKey key: Key) throws {
        guard let durations else { return }
        try encode(durations.map(\.jetStreamNanoseconds), forKey: key)
    }

    /// Writes `true` and leaves `false` out, as the server does for its
    /// `omitempty` flags, so what we send reads like what it answers.
    mutating func encodeIfTrue(_ flag: Bool, forKey key: Key) throws {
        if flag { try encode(true, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    func decodeNanosecondsIfPresent(forKey key: Key) throws -> Duration? {
        try decodeIfPresent(Int64.self, forKey: key).map(Duration.init(jetStreamNanoseconds:))
    }

    /// A missing or zero duration reads as nil: Go cannot tell them apart
    /// (`omitempty` drops a zero), so neither do we.
    func decodeNonZeroNanosecondsIfPresent(forKey key: Key) throws -> Duration? {
        guard let nanoseconds = try decodeIfPresent(Int64.self, forKey: key), nanoseconds != 0 else { return nil }
        return Duration(jetStreamNanoseconds: nanoseconds)
    }

    func decodeNanosecondsArrayIfPresent(forKey key: Key) throws -> [Duration]? {
        try decodeIfPresent([Int64].self, forKey: key)?.map(Duration.init(jetStreamNanoseconds:))
    }
}
