/// When a stream may drop messages.
public enum RetentionPolicy: String, Sendable, Hashable, Codable {
    /// Kept until a limit (count, bytes, age, per subject) pushes them out.
    case limits
    /// Kept while some consumer has not acknowledged them.
    case interest
    /// Removed when acknowledged: each message goes to one consumer.
    case workQueue = "workqueue"
}

/// What a full stream does with the next message.
public enum DiscardPolicy: String, Sendable, Hashable, Codable {
    /// Drops the oldest to make room.
    case old
    /// Refuses the new one (error 10077), which is how a quota is enforced.
    case new
}

public enum StorageType: String, Sendable, Hashable, Codable {
    case file
    case memory
}
