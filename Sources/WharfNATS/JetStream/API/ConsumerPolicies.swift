/// Where a new consumer starts in its stream.
public enum DeliverPolicy: String, Sendable, Hashable, Codable {
    case all
    case last
    case new
    /// From `ConsumerConfig.optStartSequence`.
    case byStartSequence = "by_start_sequence"
    /// From `ConsumerConfig.optStartTime`.
    case byStartTime = "by_start_time"
    /// The last message of each subject matching the filter.
    case lastPerSubject = "last_per_subject"
}

/// Which acknowledgements the consumer expects.
public enum AckPolicy: String, Sendable, Hashable, Codable {
    /// Delivered means done: nothing is redelivered.
    case none
    /// An ack covers every earlier delivery too.
    case all
    /// Each message is acked on its own; required on workqueue streams.
    case explicit
}

/// How fast stored messages are delivered.
public enum ReplayPolicy: String, Sendable, Hashable, Codable {
    case instant
    /// At the pace they were stored.
    case original
}
