/// What offering a message to a queue did: a session's (`Session.enqueue`),
/// a consumer group's (`ConsumerGroup.enqueue`) or the outbound queue under
/// them. One type for all of them, counted in one place
/// (`Broker.countDrops` and `Broker.PublishOutcome.add`).
public struct EnqueueResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case accepted
        /// Queued, and the oldest waiting message dropped (a policy's
        /// `max_length` with overflow drop-oldest).
        case acceptedDroppedOldest
        /// Offline and QoS 0, or a clean session: not kept (as in Mosquitto's default).
        case droppedOffline
        /// Queue at its limit: counted as a slow or absent consumer.
        case droppedQueueFull
        /// Refused by a policy's `max_length` with overflow reject-new.
        case droppedMaxLength
        /// The session's client may not read the topic (`[auth] acl_file`).
        case deniedByAccess
    }

    public var outcome: Outcome
    /// The queue is past its high-water mark: the publisher given to
    /// `enqueue` was registered and must pause reading until resumed.
    public var pausePublisher = false

    public init(_ outcome: Outcome, pausePublisher: Bool = false) {
        self.outcome = outcome
        self.pausePublisher = pausePublisher
    }

    public var isAccepted: Bool { outcome == .accepted || outcome == .acceptedDroppedOldest }

    public static let accepted = EnqueueResult(.accepted)
    public static let acceptedPausePublisher = EnqueueResult(.accepted, pausePublisher: true)
    public static let acceptedDroppedOldest = EnqueueResult(.acceptedDroppedOldest)
    public static let droppedOffline = EnqueueResult(.droppedOffline)
    public static let droppedQueueFull = EnqueueResult(.droppedQueueFull)
    public static let deniedByAccess = EnqueueResult(.deniedByAccess)
    public static let droppedMaxLength = EnqueueResult(.droppedMaxLength)
}
