/// Follows a KV bucket: first the last revision of every matching key,
/// then every change as it happens, in order, with nothing missed (an
/// ordered consumer on the bucket's stream, see `JetStreamOrderedConsumer`).
public final class KeyValueWatcher: Sendable {
    public typealias Handler = @Sendable (KeyValueEntry) -> Void

    public let bucket: KeyValueBucket
    private let consumer: JetStreamOrderedConsumer

    /// `keys` is a subject filter below the bucket (`>` for all, `node-1.>`).
    public init(
        bucket: KeyValueBucket, keys: String = ">", heartbeat: Duration = .seconds(2),
        onCaughtUp: (@Sendable () -> Void)? = nil, onProblem: (@Sendable (String) -> Void)? = nil, handler: @escaping Handler
    ) {
        self.bucket = bucket
        let prefix = bucket.subjectPrefix
        consumer = JetStreamOrderedConsumer(
            jetStream: bucket.jetStream, stream: bucket.streamName, filter: prefix + keys, start: .lastPerSubject,
            label: "watch of \(bucket.name)", heartbeat: heartbeat, onCaughtUp: onCaughtUp, onProblem: onProblem
        ) { [name = bucket.name] message, metadata in
            var headers = message.headers ?? NATSHeaders()
            let operation = KeyValueEntry.operation(in: headers)
            headers.remove(KeyValueEntry.operationHeader)
            handler(
                KeyValueEntry(
                    bucket: name, key: String(message.subject.dropFirst(prefix.count)), value: message.payload,
                    revision: metadata.streamSequence, created: metadata.timestamp, operation: operation, headers: headers))
        }
    }

    /// Starts following; returns once the consumer exists (the initial
    /// values then arrive; `onCaughtUp` says when they all have) or `stop()`
    /// was called. Failures go to `onProblem` and are tried again.
    public func start() async {
        await consumer.run()
    }

    public func stop() async {
        await consumer.stop()
    }

    /// Times the consumer was made again after a gap or a silence.
    public var resets: Int { consumer.resets }

    /// Where the watch is (`JetStreamOrderedConsumer.progress`).
    public var progress: String { consumer.progress }
}
