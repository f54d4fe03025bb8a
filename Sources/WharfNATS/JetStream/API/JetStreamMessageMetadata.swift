/// What the server says about a delivered message in its reply subject,
/// the one the ack goes to.
///
/// Two forms exist:
/// - `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`
///   (9 tokens), what nats-server 2.9.10 sends;
/// - `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>.<random>`
///   (12 tokens) from later servers, `_` standing for no domain. Like other
///   clients we accept 11 tokens and more, ignoring what follows `pending`.
///
/// The subject comes off the network: anything malformed gives nil.
public struct JetStreamMessageMetadata: Sendable, Hashable {
    /// Nil when the server has none (`_`) or uses the 9-token form.
    public var domain: String?
    public var accountHash: String?
    public var stream: String
    public var consumer: String
    /// How many times this message has been delivered, this time included:
    /// 1 on the first delivery.
    public var delivered: UInt64
    public var streamSequence: UInt64
    public var consumerSequence: UInt64
    /// When the message was stored.
    public var timestamp: JetStreamTimestamp
    /// Messages still waiting for this consumer after this one.
    public var pending: UInt64

    public init(
        domain: String? = nil, accountHash: String? = nil, stream: String, consumer: String, delivered: UInt64,
        streamSequence: UInt64, consumerSequence: UInt64, timestamp: JetStreamTimestamp, pending: UInt64
    ) {
        self.domain = domain
        self.accountHash = accountHash
        self.stream = stream
        self.consumer = consumer
        self.delivered = delivered
        self.streamSequence = streamSequence
        self.consumerSequence = consumerSequence
        self.timestamp = timestamp
        self.pending = pending
    }

    /// Parses a reply subject; nil when it is not a well-formed ack subject.
    public init?(replySubject: String) {
        let tokens = replySubject.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard tokens.count == 9 || tokens.count >= 11, tokens.count <= 64,
            tokens[0].elementsEqual("$JS".utf8), tokens[1].elementsEqual("ACK".utf8),
            tokens.allSatisfy({ !$0.isEmpty })
        else { return nil }
        var index = 2
        if tokens.count >= 11 {
            let domain = String(decoding: tokens[2], as: UTF8.self)
            self.domain = domain == "_" ? nil : domain
            accountHash = String(decoding: tokens[3], as: UTF8.self)
            index = 4
        }
        stream = String(decoding: tokens[index], as: UTF8.self)
        consumer = String(decoding: tokens[index + 1], as: UTF8.self)
        guard let delivered = Self.number(tokens[index + 2]),
            let streamSequence = Self.number(tokens[index + 3]),
            let consumerSequence = Self.number(tokens[index + 4]),
            let nanoseconds = Self.number(tokens[index + 5]), nanoseconds <= UInt64(Int64.max),
            let pending = Self.number(tokens[index + 6])
        else { return nil }
        self.delivered = delivered
        self.streamSequence = streamSequence
        self.consumerSequence = consumerSequence
        timestamp = JetStreamTimestamp(nanosecondsSinceEpoch: Int64(nanoseconds))
        self.pending = pending
    }

    /// Decimal digits only (no sign, no spaces), without overflow.
    private static func number(_ token: Substring.UTF8View) -> UInt64? {
        guard !token.isEmpty, token.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in token {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (scaled, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowedSum) = scaled.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowed, !overflowedSum else { return nil }
            value = sum
        }
        return value
    }
}
