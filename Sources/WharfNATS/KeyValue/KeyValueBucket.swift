import NIOCore

/// How a KV bucket is made: a stream `KV_<bucket>` on `$KV.<bucket>.>`,
/// as the NATS clients lay it out, so `nats kv` and nats-py read it too.
public struct KeyValueConfig: Sendable, Hashable {
    public var bucket: String
    /// Revisions kept per key (1: only the last).
    public var history: Int64 = 1
    /// Entries older than this go (nil: never): leases.
    public var ttl: Duration?
    public var replicas = 1
    public var storage = StorageType.file
    public var maxValueSize: Int32 = -1
    public var description: String?

    public init(bucket: String, history: Int64 = 1, ttl: Duration? = nil, replicas: Int = 1, storage: StorageType = .file) {
        self.bucket = bucket
        self.history = history
        self.ttl = ttl
        self.replicas = replicas
        self.storage = storage
    }

    var streamConfig: StreamConfig {
        var config = StreamConfig(name: "KV_\(bucket)", subjects: ["$KV.\(bucket).>"])
        config.description = description
        config.maxMessagesPerSubject = history
        config.maxAge = ttl ?? .zero
        config.maxMessageSize = maxValueSize
        config.storage = storage
        config.replicas = replicas
        config.allowRollupHeaders = true
        config.denyDelete = true
        config.allowDirect = true
        config.discard = .new
        // The duplicate window may not exceed max_age.
        let window: Duration = .seconds(120)
        config.duplicateWindow = ttl.map { min($0, window) } ?? window
        return config
    }
}

/// A KV bucket: get, put, compare-and-swap create/update, delete, purge,
/// and watch. Revisions are stream sequences.
public struct KeyValueBucket: Sendable {
    public let jetStream: JetStream
    public let name: String
    public var streamName: String { "KV_\(name)" }
    var subjectPrefix: String { "$KV.\(name)." }

    init(jetStream: JetStream, name: String) {
        self.jetStream = jetStream
        self.name = name
    }

    /// Creates the bucket, or opens it when it exists as configured
    /// (every node does this at start).
    public static func ensure(_ config: KeyValueConfig, in jetStream: JetStream) async throws(JetStreamError) -> KeyValueBucket {
        _ = try await jetStream.ensureStream(config.streamConfig)
        return KeyValueBucket(jetStream: jetStream, name: config.bucket)
    }

    /// The last revision of `key`, a delete or purge marker included; nil
    /// when the key never held anything (or its history was purged away).
    /// `timeout`: the JetStream context's unless given.
    ///
    /// A direct read is answered by any replica, and a follower may not have
    /// applied the latest write yet (measured here: a read right after a CAS
    /// write returned the revision before it). `fromLeader` reads through the
    /// stream leader instead, which holds every acknowledged write: for a
    /// read-modify-write that lost its CAS to a revision it could not see.
    public func entry(_ key: String, timeout: Duration? = nil, fromLeader: Bool = false) async throws(KeyValueError)
        -> KeyValueEntry?
    {
        try KeyValueError.validate(key)
        if fromLeader { return try await leaderEntry(key, timeout: timeout) }
        let message: DirectMessage?
        do {
            message = try await jetStream.directGetLast(streamName, subject: subjectPrefix + key, timeout: timeout)
        } catch {
            throw .jetStream(error)
        }
        guard let message else { return nil }
        return entry(key, headers: message.headers, value: message.payload, revision: message.sequence, created: message.timestamp)
    }

    private func leaderEntry(_ key: String, timeout: Duration?) async throws(KeyValueError) -> KeyValueEntry? {
        let stored: StoredMessage?
        do {
            stored = try await jetStream.getMessage(streamName, .last(subject: subjectPrefix + key), timeout: timeout)
        } catch {
            throw .jetStream(error)
        }
        guard let stored else { return nil }
        var headers = NATSHeaders()
        if let raw = stored.rawHeaders {
            do {
                headers = try NATSHeaders.parse(ByteBuffer(bytes: raw).readableBytesView)
            } catch {
                throw .jetStream(.decoding("headers of \(subjectPrefix + key): \(error)"))
            }
        }
        return entry(key, headers: headers, value: ByteBuffer(bytes: stored.data), revision: stored.sequence, created: stored.time)
    }

    private func entry(
        _ key: String, headers stored: NATSHeaders, value: ByteBuffer, revision: UInt64, created: JetStreamTimestamp?
    ) -> KeyValueEntry {
        var headers = stored
        let operation = KeyValueEntry.operation(in: headers)
        headers.remove(KeyValueEntry.operationHeader)
        return KeyValueEntry(
            bucket: name, key: key, value: value, revision: revision, created: created, operation: operation, headers: headers)
    }

    /// The value of `key`; nil when it has none (never set, deleted, purged).
    public func get(_ key: String) async throws(KeyValueError) -> KeyValueEntry? {
        guard let entry = try await entry(key), entry.operation == .put else { return nil }
        return entry
    }

    /// Sets `key`, whatever it held. Returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: ByteBuffer, headers: NATSHeaders? = nil) async throws(KeyValueError) -> UInt64 {
        try await write(key, value, headers: headers, options: JetStreamPublishOptions())
    }

    /// Sets `key` only if it holds no value: exactly one of several nodes
    /// racing to create it wins. Returns the new revision.
    @discardableResult
    public func create(_ key: String, _ value: ByteBuffer, headers: NATSHeaders? = nil) async throws(KeyValueError) -> UInt64 {
        do {
            return try await write(key, value, headers: headers, options: Self.compareAndSwap(key, 0))
        } catch .wrongLastRevision {
            // It has a last revision: if that is a delete or purge marker,
            // the key is free; take it with a CAS on that marker. Read from
            // the leader, which refused the CAS: a direct get may reach a
            // replica that has not stored the key yet (a CI run saw "changed
            // since the revision given" for a key that existed).
            guard let current = try await entry(key, fromLeader: true) else { throw .wrongLastRevision(key) }
            guard current.operation != .put else { throw .keyExists(key, revision: current.revision) }
            return try await update(key, value, lastRevision: current.revision, headers: headers)
        }
    }

    /// Sets `key` only if its last revision is `lastRevision`: the
    /// compare-and-swap that serialises writers. Returns the new revision.
    @discardableResult
    public func update(_ key: String, _ value: ByteBuffer, lastRevision: UInt64, headers: NATSHeaders? = nil)
        async throws(KeyValueError) -> UInt64
    {
        try await write(key, value, headers: headers, options: Self.compareAndSwap(key, lastRevision))
    }

    /// Leaves a delete marker (the history stays, up to `history`); with
    /// `lastRevision`, only if nobody wrote since.
    public func delete(_ key: String, lastRevision: UInt64? = nil) async throws(KeyValueError) {
        var headers = NATSHeaders()
        headers.set(KeyValueEntry.operationHeader, KeyValueEntry.Operation.delete.rawValue)
        _ = try await write(
            key, ByteBuffer(), headers: headers, options: Self.compareAndSwap(key, lastRevision))
    }

    /// Removes every revision of `key`, leaving one purge marker. See
    /// `write(delete:)` for why cluster mode deletes instead on 2.9.10.
    public func purge(_ key: String, lastRevision: UInt64? = nil) async throws(KeyValueError) {
        var headers = NATSHeaders()
        headers.set(KeyValueEntry.operationHeader, KeyValueEntry.Operation.purge.rawValue)
        headers.set("Nats-Rollup", "sub")
        _ = try await write(
            key, ByteBuffer(), headers: headers, options: Self.compareAndSwap(key, lastRevision))
    }

    /// `put`, or with `delete` a delete marker for `key` (optionally only
    /// if `lastRevision` is still the last), for callers on a message path:
    /// no task, the outcome (the new revision) on the connection's loop.
    ///
    /// A delete marker, not a purge: on nats-server 2.9.10 a purge (a
    /// `Nats-Rollup: sub` message) stored right behind a message on another
    /// key made consumers skip that message (seen here with two keys removed
    /// back to back: the watchers, ours and nats-py's, never saw the first
    /// removal, and no sequence gap showed it). With one revision kept per
    /// key a marker frees the same space.
    public func write(
        _ key: String, _ value: ByteBuffer, delete: Bool = false, lastRevision: UInt64? = nil, timeout: Duration? = nil,
        completion: @escaping @Sendable (Result<UInt64, KeyValueError>) -> Void
    ) {
        do throws(KeyValueError) {
            try KeyValueError.validate(key)
        } catch {
            jetStream.connection.eventLoop.execute { completion(.failure(error)) }
            return
        }
        var headers: NATSHeaders?
        if delete {
            var deleting = NATSHeaders()
            deleting.set(KeyValueEntry.operationHeader, KeyValueEntry.Operation.delete.rawValue)
            headers = deleting
        }
        jetStream.publish(
            subjectPrefix + key, headers: headers, payload: value,
            options: Self.compareAndSwap(key, lastRevision), timeout: timeout
        ) { result in
            switch result {
            case .success(let ack) where ack.duplicate && lastRevision != nil: completion(.failure(.wrongLastRevision(key)))
            case .success(let ack): completion(.success(ack.sequence))
            case .failure(.api(let error)) where error.errorCode == .streamWrongLastSequence: completion(.failure(.wrongLastRevision(key)))
            case .failure(let error): completion(.failure(.jetStream(error)))
            }
        }
    }

    /// A compare-and-swap on `key`: its last revision must be
    /// `lastRevision`, and the write carries `Nats-Msg-Id`
    /// `cas:<key>:<lastRevision>`. The id is what makes it one: on
    /// nats-server 2.9.10 a replicated stream checks the expected sequence
    /// only against what is already stored, so writes in flight together
    /// all pass (8 racing writers: every round had several winners, with
    /// nats-py as with ours). Duplicate ids are caught as they are proposed,
    /// so of writers that read the same revision one is stored and the
    /// rest are told "duplicate": a lost CAS. (A key that vanished whole, by
    /// TTL, and is created again within the duplicate window reads as
    /// taken until the window passes; markers keep revisions from
    /// repeating otherwise.)
    static func compareAndSwap(_ key: String, _ lastRevision: UInt64?) -> JetStreamPublishOptions {
        guard let lastRevision else { return JetStreamPublishOptions() }
        return JetStreamPublishOptions(messageId: "cas:\(key):\(lastRevision)", expectedLastSubjectSequence: lastRevision)
    }

    private func write(_ key: String, _ value: ByteBuffer, headers: NATSHeaders?, options: JetStreamPublishOptions)
        async throws(KeyValueError) -> UInt64
    {
        try KeyValueError.validate(key)
        let ack: PublishAck
        do {
            ack = try await jetStream.publish(subjectPrefix + key, headers: headers, payload: value, options: options)
        } catch .api(let error) where error.errorCode == .streamWrongLastSequence {
            throw .wrongLastRevision(key)
        } catch {
            throw .jetStream(error)
        }
        // Another writer's CAS from the same revision (`compareAndSwap`).
        if ack.duplicate, options.expectedLastSubjectSequence != nil { throw .wrongLastRevision(key) }
        return ack.sequence
    }
}
