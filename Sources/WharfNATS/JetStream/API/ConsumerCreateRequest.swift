/// The body of `$JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter>]`.
///
/// 2.9.10 refuses a durable sent to the older `CONSUMER.CREATE.<stream>`
/// (10020), and refuses a `filter_subject` that differs from the subject's
/// filter token (10131): build the subject with
/// `JetStreamAPISubject.consumerCreate(stream:config:)`, which takes both
/// from the config.
public struct ConsumerCreateRequest: Sendable, Hashable, Codable {
    public var streamName: String
    public var config: ConsumerConfig

    public init(streamName: String, config: ConsumerConfig) {
        self.streamName = streamName
        self.config = config
    }

    enum CodingKeys: String, CodingKey {
        case streamName = "stream_name"
        case config
    }
}
