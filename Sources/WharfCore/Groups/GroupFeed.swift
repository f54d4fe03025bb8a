/// Cluster mode's seam in a consumer group: where the group's messages come
/// from and go back to when the queue is the cluster's, not this node's.
///
/// On one node a group holds its whole queue. In cluster mode the queue is
/// a replicated stream that every node with members pulls from; the group
/// here holds only what it pulled for its members (`ConsumerGroup.enqueuePulled`)
/// and tells its feed what became of each message, outside its lock. The
/// feed is attached once, before the first member joins.
public protocol GroupFeed: AnyObject, Sendable {
    /// Done with for good: acknowledged by a member (a QoS 0 copy once
    /// handed over), dead-lettered and stored, or (`expired`) past its TTL.
    func settled(_ messages: [Message], expired: Bool)

    /// No member here can take these now (none is online, a member refused
    /// one, its dead letter could not be stored): back to the cluster's
    /// queue, for a member on any node, after `delayNanos`.
    func handedBack(_ messages: [Message], afterNanos delayNanos: UInt64)

    /// How many more messages the members here can take now: their free
    /// windows less what waits here for them. The feed pulls no more.
    func roomChanged(_ room: Int)
}
