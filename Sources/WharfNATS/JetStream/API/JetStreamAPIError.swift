/// The `error` object of a JetStream API reply:
/// `{"code":404,"err_code":10059,"description":"stream not found"}`.
///
/// Decisions go on `errorCode`, never on the text, except where the server
/// folds several causes into one code (10077, see
/// `isMaximumMessagesPerSubjectExceeded`).
public struct JetStreamAPIError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// HTTP-like status: 400, 404, 500, 503.
    public var code: Int
    public var errorCode: JetStreamErrorCode
    /// The server's text (`description` on the wire).
    public var text: String

    public init(code: Int, errorCode: JetStreamErrorCode, text: String) {
        self.code = code
        self.errorCode = errorCode
        self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case code
        case errorCode = "err_code"
        case text = "description"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(Int.self, forKey: .code)
        errorCode = try container.decodeIfPresent(JetStreamErrorCode.self, forKey: .errorCode) ?? .none
        text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        if errorCode != .none { try container.encode(errorCode, forKey: .errorCode) }
        if !text.isEmpty { try container.encode(text, forKey: .text) }
    }

    public var description: String { "\(text) (code \(code), err_code \(errorCode))" }
}

extension JetStreamAPIError {
    /// A compare-and-set lost (10071): someone wrote the subject since we read it.
    public var isWrongLastSequence: Bool { errorCode == .streamWrongLastSequence }
    public var isStreamNotFound: Bool { errorCode == .streamNotFound }
    public var isConsumerNotFound: Bool { errorCode == .consumerNotFound }
    public var isNoMessageFound: Bool { errorCode == .noMessageFound }
    /// The stream exists with another config (10058): read it with
    /// STREAM.INFO and decide with `StreamConfig.reconcile(with:)`.
    public var isStreamNameInUse: Bool { errorCode == .streamNameInUse }
    /// The stream refused to store the message (10077), for any reason.
    public var isStoreFailure: Bool { errorCode == .streamStoreFailed }
    /// A `discard_new_per_subject` stream's subject is full: a session's
    /// queue at `max_queued_messages`.
    public var isMaximumMessagesPerSubjectExceeded: Bool {
        isStoreFailure && text.contains("maximum messages per subject exceeded")
    }
    /// A `discard: new` stream is at `max_bytes`: the storage quota.
    public var isMaximumBytesExceeded: Bool { isStoreFailure && text.contains("maximum bytes exceeded") }
    /// A `discard: new` stream is at `max_msgs`.
    public var isMaximumMessagesExceeded: Bool { isStoreFailure && text.contains("maximum messages exceeded") }
    /// The cluster or account has no room: the codes a create or publish
    /// gets when disks or reservations are used up, single server or clustered.
    public var isInsufficientResources: Bool {
        switch errorCode {
        case .insufficientResources, .storageResourcesExceeded, .memoryResourcesExceeded, .accountResourcesExceeded:
            return true
        case .clusterNoPeers:
            return text.contains("insufficient")
        default:
            return false
        }
    }
    /// Worth retrying after a pause: the cluster has no meta leader yet.
    public var isTemporarilyUnavailable: Bool { errorCode == .clusterNotAvailable }
    /// A consumer of that name exists with a config that cannot become the
    /// requested one: 10013, 10148 from 2.10, and 2.9.10's 10012
    /// "... can not be updated".
    public var isConsumerConflict: Bool {
        errorCode == .consumerNameExists || errorCode == .consumerAlreadyExists
            || (errorCode == .consumerCreate && text.contains("can not be updated"))
    }
}
