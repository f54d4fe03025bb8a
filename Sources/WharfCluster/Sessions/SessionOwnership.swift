/// Who delivers a persistent session: the part of its record in JetStream
/// that the takeover protocol reads and writes, always by compare-and-swap
/// on the record's revision. The protocol is model-checked with spin
/// (Tests/Models/session_takeover.pml; docs/cluster.md, "Session
/// takeover"), and these types follow the model step by step, so that
/// what was checked is what runs.
public struct SessionOwnership: Codable, Sendable, Equatable {
    /// Raised by every connect that wins the record.
    public var epoch: UInt64
    /// The node whose connect won it last.
    public var owner: String
    /// Whether that node delivers it, or is about to.
    public var connected: Bool
    /// Other nodes that may still deliver an older epoch, sorted: whoever
    /// wins the record next asks them to release, until the owner clears
    /// them once it delivers.
    public var unreleased: [String]

    public init(epoch: UInt64, owner: String, connected: Bool, unreleased: [String] = []) {
        self.epoch = epoch
        self.owner = owner
        self.connected = connected
        self.unreleased = unreleased
    }

    /// The record after the owner's clean disconnect (written only if the
    /// revision is still the one it wrote).
    public var disconnected: SessionOwnership {
        var record = self
        record.connected = false
        return record
    }

    /// The record once the owner's fence is done: nobody older delivers.
    public var fenced: SessionOwnership {
        var record = self
        record.unreleased = []
        return record
    }
}

/// A connect on `node` that read `current` (nil: no record yet): the record
/// it writes by CAS on the revision it read, and the nodes it then asks to
/// release. A lost CAS reads again and makes a new claim.
public struct SessionClaim: Sendable, Equatable {
    public let record: SessionOwnership
    /// Asked to release `record.epoch`; each answers or its lease lapses
    /// before the connect may deliver (`ReleaseWait`).
    public let ask: [String]
    /// This node had the session with an older epoch: it closes that
    /// connection itself, at once.
    public let closesOwnOlder: Bool

    public init(current: SessionOwnership?, node: String) {
        // Not only the last owner: a node in `unreleased` may still be
        // delivering while the last owner was itself only waiting for it
        // (the model's counterexample to asking the owner alone).
        var ask = Set(current?.unreleased ?? [])
        if let current, current.connected { ask.insert(current.owner) }
        closesOwnOlder = ask.remove(node) != nil
        let sorted = ask.sorted()
        self.ask = sorted
        record = SessionOwnership(epoch: (current?.epoch ?? 0) + 1, owner: node, connected: true, unreleased: sorted)
    }
}

/// What a node does when asked to release `epoch` of a session, given the
/// epoch it delivers (if it does) and the epoch its connect of the session
/// waits with (if one does). It answers after doing it, always: an answer
/// says "nothing older than `epoch` is delivered here".
public struct ReleaseDecision: Sendable, Equatable {
    public let closeConnection: Bool
    public let abandonConnect: Bool

    public init(epoch: UInt64, delivering: UInt64?, waiting: UInt64?) {
        closeConnection = delivering.map { $0 < epoch } ?? false
        abandonConnect = waiting.map { $0 < epoch } ?? false
    }
}

/// A connect waiting for releases: it may deliver once every node asked
/// has answered for its epoch or been seen with its lease lapsed, unless a
/// later connect released it first.
public struct ReleaseWait: Sendable, Equatable {
    public let epoch: UInt64
    public private(set) var waiting: Set<String>
    public private(set) var abandoned = false

    public init(_ claim: SessionClaim) {
        self.init(epoch: claim.record.epoch, asking: claim.ask)
    }

    public init(epoch: UInt64, asking nodes: [String]) {
        self.epoch = epoch
        waiting = Set(nodes)
    }

    /// `node` answered a release request for `epoch` (answers for other
    /// epochs are another connect's).
    public mutating func released(by node: String, epoch: UInt64) {
        if epoch == self.epoch { waiting.remove(node) }
    }

    /// `node`'s lease was seen lapsed: it delivers nothing (it fences
    /// itself before its lease lapses).
    public mutating func leaseLapsed(_ node: String) {
        waiting.remove(node)
    }

    /// This node was asked to release `epoch`.
    public mutating func releaseRequested(epoch: UInt64) {
        if ReleaseDecision(epoch: epoch, delivering: nil, waiting: self.epoch).abandonConnect { abandoned = true }
    }

    public var mayDeliver: Bool { waiting.isEmpty && !abandoned }
}
