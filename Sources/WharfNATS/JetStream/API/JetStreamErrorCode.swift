/// JetStream's own error number (`err_code`), finer than the HTTP-like
/// `code` beside it: 10059 "stream not found" and 10014 "consumer not found"
/// are both 404.
///
/// A struct rather than an enum because the server has about two hundred
/// codes and adds more each release; we name only those cluster mode acts
/// on. The numbers are those of nats-server v2.9.10 `server/errors.json`,
/// and the comments say what 2.9.10 was seen to answer with them.
public struct JetStreamErrorCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// Absent `err_code` (the server omits a zero).
    public static let none = JetStreamErrorCode(0)
    /// "resource limits exceeded for account": a publish past the account's storage.
    public static let accountResourcesExceeded = JetStreamErrorCode(10002)
    /// "no suitable peers for placement[, insufficient storage]": what a
    /// clustered create answers for too few servers or too little disk
    /// (a single server answers 10047 for the latter).
    public static let clusterNoPeers = JetStreamErrorCode(10005)
    /// "JetStream system temporarily unavailable": no meta leader yet, as
    /// at a cluster's start. Retry.
    public static let clusterNotAvailable = JetStreamErrorCode(10008)
    /// Any other consumer create failure; 2.9.10 also answers an update of
    /// a durable that changes what cannot change ("ack policy can not be
    /// updated") with it.
    public static let consumerCreate = JetStreamErrorCode(10012)
    /// "consumer name already in use".
    public static let consumerNameExists = JetStreamErrorCode(10013)
    public static let consumerNotFound = JetStreamErrorCode(10014)
    /// A durable created through `CONSUMER.CREATE.<stream>` (without the
    /// name in the subject): 2.9.10 wants the named form.
    public static let consumerEphemeralWithDurableName = JetStreamErrorCode(10020)
    /// "insufficient resources": a clustered publish when the stream's
    /// storage reservation is used up.
    public static let insufficientResources = JetStreamErrorCode(10023)
    public static let memoryResourcesExceeded = JetStreamErrorCode(10028)
    /// "no message found" from STREAM.MSG.GET.
    public static let noMessageFound = JetStreamErrorCode(10037)
    /// "sequence not found" from STREAM.MSG.DELETE: the message is gone already.
    public static let sequenceNotFound = JetStreamErrorCode(10043)
    /// A failed STREAM.MSG.DELETE, the store's error as its text ("no
    /// message found" for one deleted already).
    public static let messageDeleteFailed = JetStreamErrorCode(10057)
    /// "insufficient storage resources available": a single server's create
    /// beyond its disk.
    public static let storageResourcesExceeded = JetStreamErrorCode(10047)
    /// A config the server refuses; the reason is in the description
    /// ("duplicates window can not be larger then max age"; also an update
    /// that changes the storage type).
    public static let streamInvalidConfig = JetStreamErrorCode(10052)
    /// "stream name already in use with a different configuration".
    public static let streamNameInUse = JetStreamErrorCode(10058)
    public static let streamNotFound = JetStreamErrorCode(10059)
    /// "expected stream does not match" (`Nats-Expected-Stream`).
    public static let streamNotMatch = JetStreamErrorCode(10060)
    /// "subjects overlap with an existing stream".
    public static let streamSubjectOverlap = JetStreamErrorCode(10065)
    public static let streamUpdate = JetStreamErrorCode(10069)
    /// "wrong last msg ID" (`Nats-Expected-Last-Msg-Id`).
    public static let streamWrongLastMessageID = JetStreamErrorCode(10070)
    /// "wrong last sequence: N": a compare-and-set on
    /// `Nats-Expected-Last-Subject-Sequence` or `Nats-Expected-Last-Sequence`
    /// lost.
    public static let streamWrongLastSequence = JetStreamErrorCode(10071)
    /// Every refused store, with the store's reason as the description:
    /// "maximum messages per subject exceeded", "maximum bytes exceeded",
    /// "maximum messages exceeded", "message to large" [sic].
    public static let streamStoreFailed = JetStreamErrorCode(10077)
    public static let consumerExistingActive = JetStreamErrorCode(10105)
    /// The filter in `CONSUMER.CREATE.<stream>.<name>.<filter>` differs from
    /// the config's `filter_subject`.
    public static let consumerCreateFilterSubjectMismatch = JetStreamErrorCode(10131)
    /// "consumer already exists". Not in 2.9.10 (which updates or answers
    /// 10012 instead); servers from 2.10 send it for a create action that
    /// meets a different config.
    public static let consumerAlreadyExists = JetStreamErrorCode(10148)

    public var description: String { String(rawValue) }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
