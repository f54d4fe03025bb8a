import Foundation
import NIOCore

/// JetStream over one `NATSConnection`: the management calls (streams,
/// consumers, purge, get), publishing with acknowledgements, and acks of
/// delivered messages. A value: cheap to copy, every copy shares the
/// connection.
///
/// Management calls are async (start-up, operators, rare paths); publishing
/// has a callback form too, so the message path is pipelined without a
/// task per message: many publishes in flight, each acknowledgement calls
/// back on the connection's loop.
public struct JetStream: Sendable {
    public let connection: NATSConnection
    public let api: JetStreamAPISubject
    /// For management calls; a publish takes its own.
    public var timeout: Duration

    public init(connection: NATSConnection, api: JetStreamAPISubject = JetStreamAPISubject(), timeout: Duration = .seconds(5)) {
        self.connection = connection
        self.api = api
        self.timeout = timeout
    }

    // MARK: Calls

    /// One API request: the body encoded, the reply decoded or its error thrown.
    func call<Response: Decodable>(
        _ subject: String, _ body: (some Encodable)?, as type: Response.Type, timeout: Duration? = nil
    ) async throws(JetStreamError) -> Response {
        var payload = ByteBuffer()
        if let body { payload.writeBytes(try JetStreamRequest.encode(body)) }
        let reply: NATSMessage
        do {
            reply = try await connection.request(subject, payload: payload, timeout: timeout ?? self.timeout)
        } catch {
            throw JetStreamError(error)
        }
        return try JetStreamResponse.decode(type, from: reply.payload.readableBytesView)
    }

    private struct NoBody: Encodable {}
    private static let noBody: NoBody? = nil

    public func accountInfo() async throws(JetStreamError) -> AccountInfo {
        try await call(api.accountInfo, Self.noBody, as: AccountInfo.self)
    }

    // MARK: Streams

    public func createStream(_ config: StreamConfig) async throws(JetStreamError) -> StreamInfo {
        try await call(api.streamCreate(config.name), config, as: StreamInfo.self)
    }

    public func updateStream(_ config: StreamConfig) async throws(JetStreamError) -> StreamInfo {
        try await call(api.streamUpdate(config.name), config, as: StreamInfo.self)
    }

    /// Creates the stream, or finds it as wanted, or updates it where the
    /// server allows: what every node does at start, so it is idempotent
    /// and nodes racing to create it all succeed.
    public func ensureStream(_ config: StreamConfig) async throws(JetStreamError) -> StreamInfo {
        do {
            return try await createStream(config)
        } catch .api(let error) where error.errorCode == .streamNameInUse {
            let existing = try await streamInfo(config.name)
            switch config.reconcile(with: existing.config) {
            case .unchanged:
                return existing
            case .update:
                return try await updateStream(config)
            case .conflict(let members):
                throw .incompatibleStream(name: config.name, members: members)
            }
        }
    }

    public func streamInfo(_ name: String, subjectsFilter: String? = nil) async throws(JetStreamError) -> StreamInfo {
        let request = subjectsFilter.map { StreamInfoRequest(subjectsFilter: $0) }
        return try await call(api.streamInfo(name), request, as: StreamInfo.self)
    }

    /// Nil when there is no such stream.
    public func streamInfoIfPresent(_ name: String) async throws(JetStreamError) -> StreamInfo? {
        do {
            return try await streamInfo(name)
        } catch .api(let error) where error.errorCode == .streamNotFound {
            return nil
        }
    }

    public func deleteStream(_ name: String) async throws(JetStreamError) {
        _ = try await call(api.streamDelete(name), Self.noBody, as: StreamDeleteResponse.self)
    }

    /// Removes messages: all, those of one subject (`filter`), those below a
    /// sequence (`sequence`), or all but the last `keep`. Returns how many.
    /// On nats-server before 2.9.18, a replicated stream's purge is replayed
    /// after a restart as a purge of everything older than it, whatever its
    /// filter (see `StreamMessageDeleteRequest`): use `deleteMessage` to
    /// drop some messages of a replicated stream and keep the rest.
    @discardableResult
    public func purgeStream(_ name: String, _ request: StreamPurgeRequest = StreamPurgeRequest()) async throws(JetStreamError)
        -> UInt64
    {
        try await call(api.streamPurge(name), request, as: StreamPurgeResponse.self).purged
    }

    /// Deletes the message at `sequence` (`STREAM.MSG.DELETE`, through the
    /// stream leader). False when it was not there (deleted already).
    @discardableResult
    public func deleteMessage(_ stream: String, sequence: UInt64, timeout: Duration? = nil) async throws(JetStreamError) -> Bool {
        do {
            return try await call(
                api.streamMessageDelete(stream), StreamMessageDeleteRequest(sequence: sequence), as: StreamMessageDeleteResponse.self,
                timeout: timeout
            ).success
        } catch .api(let error)
            where error.errorCode == .sequenceNotFound || (error.errorCode == .messageDeleteFailed && error.text == "no message found")
        {
            // 2.9.10 answers a message deleted already with 10057 and the
            // store's "no message found" (10043 is for a delete that
            // removed nothing without an error).
            return false
        }
    }

    /// A stored message through the stream leader (`STREAM.MSG.GET`); nil
    /// when there is none.
    public func getMessage(_ stream: String, _ request: StreamMessageGetRequest, timeout: Duration? = nil) async throws(JetStreamError)
        -> StoredMessage?
    {
        do {
            return try await call(api.streamMessageGet(stream), request, as: StreamMessageGetResponse.self, timeout: timeout).message
        } catch .api(let error) where error.errorCode == .noMessageFound {
            return nil
        }
    }

    // MARK: Consumers

    /// Creates (or finds, with the same config) a consumer; named ones
    /// through the form 2.9.10 requires for durables, unnamed ones through
    /// `CONSUMER.CREATE.<stream>` (the server names them). `timeout`
    /// overrides the JetStream's own for this call.
    public func createConsumer(
        _ stream: String, _ config: ConsumerConfig, timeout: Duration? = nil
    ) async throws(JetStreamError) -> ConsumerInfo {
        let subject = api.consumerCreate(stream, config: config) ?? "\(api.prefix).CONSUMER.CREATE.\(stream)"
        return try await call(subject, ConsumerCreateRequest(streamName: stream, config: config), as: ConsumerInfo.self, timeout: timeout)
    }

    public func consumerInfo(_ stream: String, _ consumer: String) async throws(JetStreamError) -> ConsumerInfo {
        try await call(api.consumerInfo(stream, consumer: consumer), Self.noBody, as: ConsumerInfo.self)
    }

    public func deleteConsumer(_ stream: String, _ consumer: String) async throws(JetStreamError) {
        _ = try await call(api.consumerDelete(stream, consumer: consumer), Self.noBody, as: ConsumerDeleteResponse.self)
    }

    // MARK: Acknowledging delivered messages

    /// Acks (or naks, terms...) a message a consumer delivered: a publish to
    /// its reply subject. Fire and forget, as every client does for acks.
    public func acknowledge(_ message: NATSMessage, _ kind: AckKind) throws(NATSError) {
        guard let reply = message.replyTo else { return }
        try connection.publish(reply, payload: ByteBuffer(bytes: kind.payload))
    }
}

extension JetStreamError {
    /// The connection's failures in JetStream's words.
    public init(_ error: NATSError) {
        switch error {
        case .timeout: self = .timeout
        case .noResponders: self = .noResponders
        default: self = .connection(error)
        }
    }
}
