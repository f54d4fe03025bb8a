/// The subjects of the JetStream API requests cluster mode sends.
///
/// Every subject starts with the prefix: `$JS.API` for the local JetStream,
/// `$JS.<domain>.API` for a domain's. Stream and consumer names are single
/// tokens; pass only names `isValidName` accepts, or the request lands on
/// another API subject.
public struct JetStreamAPISubject: Sendable, Hashable {
    public static let defaultPrefix = "$JS.API"

    public var prefix: String

    public init(prefix: String = JetStreamAPISubject.defaultPrefix) {
        self.prefix = prefix
    }

    /// The API of a JetStream domain (a leaf node's, for instance).
    public init(domain: String) {
        prefix = "$JS.\(domain).API"
    }

    /// Whether a stream or consumer name is one the server takes and that
    /// stays one token: not empty, at most 255 bytes, no whitespace or
    /// control bytes, no `.`, `*`, `>`, and no path separators (the server
    /// names directories after streams and consumers).
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.utf8.allSatisfy { byte in
            byte > 0x20 && byte != 0x7F && byte != UInt8(ascii: ".") && byte != UInt8(ascii: "*")
                && byte != UInt8(ascii: ">") && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "\\")
        }
    }

    /// `$JS.API.INFO`: the account's usage; also a cheap "is JetStream there".
    public var accountInfo: String { "\(prefix).INFO" }

    public func streamCreate(_ stream: String) -> String { "\(prefix).STREAM.CREATE.\(stream)" }
    public func streamUpdate(_ stream: String) -> String { "\(prefix).STREAM.UPDATE.\(stream)" }
    public func streamInfo(_ stream: String) -> String { "\(prefix).STREAM.INFO.\(stream)" }
    public func streamDelete(_ stream: String) -> String { "\(prefix).STREAM.DELETE.\(stream)" }
    public func streamPurge(_ stream: String) -> String { "\(prefix).STREAM.PURGE.\(stream)" }
    /// Served by the stream leader only; the body is a `StreamMessageDeleteRequest`.
    public func streamMessageDelete(_ stream: String) -> String { "\(prefix).STREAM.MSG.DELETE.\(stream)" }
    /// Served by the stream leader only, answers JSON.
    public func streamMessageGet(_ stream: String) -> String { "\(prefix).STREAM.MSG.GET.\(stream)" }

    /// Served by any replica of an `allow_direct` stream, answers with the
    /// message itself; the body is a `StreamMessageGetRequest`.
    public func directGet(_ stream: String) -> String { "\(prefix).DIRECT.GET.\(stream)" }

    /// The last message on `subject`, with an empty body: the subject is
    /// in the request subject (`$JS.API.DIRECT.GET.<stream>.<subject>`).
    public func directGetLast(_ stream: String, subject: String) -> String { "\(prefix).DIRECT.GET.\(stream).\(subject)" }

    /// `CONSUMER.CREATE.<stream>.<name>[.<filter>]`, the named form 2.9.10
    /// requires for durables. The filter must equal the config's
    /// `filter_subject` (10131 otherwise); leave it nil for none.
    public func consumerCreate(_ stream: String, consumer: String, filter: String? = nil) -> String {
        guard let filter, !filter.isEmpty else { return "\(prefix).CONSUMER.CREATE.\(stream).\(consumer)" }
        return "\(prefix).CONSUMER.CREATE.\(stream).\(consumer).\(filter)"
    }

    /// The create subject for `config`, its name (or durable name) and
    /// filter taken from it; nil when it has neither name.
    public func consumerCreate(_ stream: String, config: ConsumerConfig) -> String? {
        guard let name = config.name ?? config.durableName else { return nil }
        return consumerCreate(stream, consumer: name, filter: config.filterSubject)
    }

    public func consumerInfo(_ stream: String, consumer: String) -> String { "\(prefix).CONSUMER.INFO.\(stream).\(consumer)" }
    public func consumerDelete(_ stream: String, consumer: String) -> String {
        "\(prefix).CONSUMER.DELETE.\(stream).\(consumer)"
    }

    /// Where a pull consumer's `PullRequest` goes.
    public func consumerNext(_ stream: String, consumer: String) -> String { "\(prefix).CONSUMER.MSG.NEXT.\(stream).\(consumer)" }
}
