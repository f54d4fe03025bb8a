import NIOCore
import WharfNATS

/// Persistent sessions' records in `wharf_sessions`, one key per client id
/// (`ClusterNames.key(for:)`), written only by compare-and-swap on the
/// revision read: the serialisation point of a takeover (docs/cluster.md,
/// "Session takeover"). Of two connects of one client on two nodes, one
/// wins each round; the other reads again.
public struct SessionStore: Sendable {
    public let bucket: KeyValueBucket
    /// This node's name: the owner its claims write.
    public let node: String
    /// This run of the node (`ClusterNode.bootId`), written with each claim.
    public let boot: String?

    public init(bucket: KeyValueBucket, node: String, boot: String? = nil) {
        self.bucket = bucket
        self.node = node
        self.boot = boot
    }

    /// A claim that won the record.
    public struct Claimed: Sendable, Equatable {
        public let record: SessionRecord
        public let revision: UInt64
        /// Whom to ask to release before delivering (`ClusterNode.fence`).
        public let claim: SessionClaim
        /// CONNACK's session present: a live record was kept (not a clean
        /// start, not expired).
        public let sessionPresent: Bool
        /// The record before this claim (nil: there was none).
        public let previous: SessionRecord?
        /// The node that held the record before this claim (nil: none did).
        public var previousOwner: String? { previous?.ownership.owner }
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        /// Lost the CAS every time: other connects of the client kept winning.
        case contended(tries: Int)
        case unreadable(SessionRecord.DecodingProblem)
        case store(KeyValueError)

        public var description: String {
            switch self {
            case .contended(let tries): "the session record changed under each of \(tries) tries"
            case .unreadable(let problem): "\(problem)"
            case .store(let error): "\(error)"
            }
        }
    }

    /// The record (nil: none, or deleted) and the revision a CAS must name
    /// (0: the key never held anything). Read through the stream leader
    /// unless `fromLeader` is false: a replica's direct read may predate the
    /// last write, and a decision taken on it (a CAS, a will's cancellation)
    /// would be taken on a record that is gone.
    public func read(_ clientId: String, timeout: Duration? = nil, fromLeader: Bool = true) async throws(Problem) -> (
        record: SessionRecord?, revision: UInt64
    ) {
        let entry: KeyValueEntry?
        do {
            entry = try await bucket.entry(ClusterNames.key(for: clientId), timeout: timeout, fromLeader: fromLeader)
        } catch {
            throw .store(error)
        }
        guard let entry else { return (nil, 0) }
        guard entry.operation == .put else { return (nil, entry.revision) }
        switch SessionRecord.decode(entry.value) {
        case .success(let record): return (record, entry.revision)
        case .failure(let problem): throw .unreadable(problem)
        }
    }

    /// A CONNECT of `clientId` here: reads the record and writes the claimed
    /// one by CAS, reading again after a lost CAS (up to `tries`). A clean
    /// start or an expired record drops the subscriptions, never the fence:
    /// a node may still deliver the client's older connection.
    public func claim(
        _ clientId: String, cleanStart: Bool, expiryInterval: UInt32, will: SessionRecord.Will?, now: UInt64, tries: Int = 5
    ) async throws(Problem) -> Claimed {
        let key = ClusterNames.key(for: clientId)
        var unanswered: KeyValueError?
        for _ in 0..<tries {
            let current: SessionRecord?
            let revision: UInt64
            do {
                (current, revision) = try await read(clientId)
            } catch .store(.jetStream(.timeout)), .store(.jetStream(.noResponders)) {
                // A new bucket's stream has no leader yet: read again.
                unanswered = .jetStream(.timeout)
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            let kept = current.flatMap { cleanStart || $0.isExpired(at: now) ? nil : $0 }
            let claim = SessionClaim(current: current?.ownership, node: node)
            var record = SessionRecord(
                clientId: clientId, ownership: claim.record, ownerBoot: boot, expiryInterval: expiryInterval,
                subscriptions: kept?.subscriptions ?? [], will: will)
            // QoS 2 deliveries past PUBREC stay with a kept session.
            record.released = kept?.released
            // And inbound QoS 2 exchanges awaiting PUBREL.
            record.received = kept?.received
            // And completed deliveries the queue still holds.
            record.completed = kept?.completed
            // And what its reader handed over, and its last packet id.
            record.handedOver = kept?.handedOver
            record.lastPacketId = kept?.lastPacketId
            switch await write(key, record, after: revision) {
            case .success(let written):
                return Claimed(
                    record: record, revision: written, claim: claim, sessionPresent: kept != nil, previous: current)
            case .failure(.wrongLastRevision):
                continue
            case .failure(.jetStream(.timeout)), .failure(.jetStream(.noResponders)):
                // A stream leader being elected (seconds): read again and
                // retry. If the write did land, the record read is this
                // node's own claim, and the next one supersedes it.
                unanswered = .jetStream(.timeout)
                continue
            case .failure(let error):
                throw .store(error)
            }
        }
        if let unanswered { throw .store(unanswered) }
        throw .contended(tries: tries)
    }

    /// The fence is done: `unreleased` cleared if the record is still the
    /// one claimed. Nil if it moved on (the next connect asks a few nodes
    /// more; nothing else follows from it).
    public func fenced(_ claimed: Claimed) async -> UInt64? {
        var record = claimed.record
        record.ownership = record.ownership.fenced
        return try? await write(ClusterNames.key(for: record.clientId), record, after: claimed.revision).get()
    }

    /// The client disconnected cleanly from the connection whose record is
    /// at `revision`: not connected, and since when. Nil if another
    /// connect took the record meanwhile (then it is not this one's to change).
    public func disconnected(_ record: SessionRecord, revision: UInt64, at now: UInt64) async throws(Problem) -> UInt64? {
        var offline = record
        offline.ownership = record.ownership.disconnected
        offline.disconnectedAt = now
        switch await write(ClusterNames.key(for: record.clientId), offline, after: revision) {
        case .success(let written): return written
        case .failure(.wrongLastRevision): return nil
        case .failure(let error): throw .store(error)
        }
    }

    /// The session ended (with its connection, or it expired): its record
    /// goes, if it is still the one at `revision`. False if it did not
    /// (another connect moved it on, or NATS did not answer): then its
    /// queue is not this node's to empty.
    @discardableResult
    public func ended(_ clientId: String, revision: UInt64) async -> Bool {
        (try? await bucket.delete(ClusterNames.key(for: clientId), lastRevision: revision)) != nil
    }

    /// Writes `record` if the key is still at `revision`: the new revision,
    /// or nil if another connect moved it on (or NATS did not answer).
    public func update(_ record: SessionRecord, after revision: UInt64) async -> UInt64? {
        try? await write(ClusterNames.key(for: record.clientId), record, after: revision).get()
    }

    /// `update`, saying why a write did not land.
    public func updateResult(_ record: SessionRecord, after revision: UInt64) async -> Result<UInt64, KeyValueError> {
        await write(ClusterNames.key(for: record.clientId), record, after: revision)
    }

    private func write(_ key: String, _ record: SessionRecord, after revision: UInt64) async -> Result<UInt64, KeyValueError> {
        do {
            return .success(try await bucket.update(key, record.encoded(), lastRevision: revision))
        } catch {
            return .failure(error)
        }
    }
}

extension SessionRecord {
    /// Whether an offline session's expiry interval has passed at `now`
    /// (Unix nanoseconds). A connected one never has.
    public func isExpired(at now: UInt64) -> Bool {
        guard !ownership.connected, let disconnectedAt, expiryInterval != UInt32.max else { return false }
        return now >= disconnectedAt && now - disconnectedAt >= UInt64(expiryInterval) * 1_000_000_000
    }
}
