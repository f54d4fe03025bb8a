import WharfMQTT

/// Cluster mode's seam in the core: other nodes appear in the subscription
/// tree as `RemoteNode` destinations (one per node, however many of its
/// subscriptions match, so it gets one copy at the highest QoS they
/// granted), and the broker tells the link what this node subscribes to.
/// Without a link the broker is a single node and none of this runs.
///
/// The link carries the effects; the broker decides them. A forward at QoS
/// 1/2 goes into the publishing connection's journal writer, so the
/// publisher's acknowledgement waits for the other node's copy to be
/// stored, as it waits for a local one (`BrokerJournal`'s contract).
public protocol ClusterLink: AnyObject, Sendable {
    /// `message` for `node`'s subscribers at `qos` (the highest its matching
    /// filters granted, no more than the message's). QoS 0 goes out now;
    /// QoS 1/2 is written through `journal`, whose commit waits for it.
    func forward(_ message: Message, qos: QoS, to node: RemoteNode, journal: any JournalWriter)

    /// This node's interest in `filter` changed: `maxQoS` is the highest QoS
    /// its local subscriptions to it grant now, nil when none is left.
    /// `journal` is the writer of the connection whose SUBSCRIBE or
    /// UNSUBSCRIBE caused it (its SUBACK/UNSUBACK waits), nil otherwise.
    func localInterestChanged(_ filter: String, maxQoS: QoS?, journal: (any JournalWriter)?)

    /// A client published `message` with RETAIN (an empty payload clears
    /// the topic): the cluster's retained store takes it, through `journal`
    /// like a forward, so every node sees it.
    func retained(_ message: Message, journal: any JournalWriter)
}

/// Another node of the cluster, as a destination in the subscription tree.
/// One object per node name for the life of the process, so the tree's
/// merge of overlapping filters sees one destination per node.
public final class RemoteNode: Sendable, CustomStringConvertible {
    public let name: String
    /// Where the link sends this node's messages at QoS 0 and at QoS 1/2
    /// (NATS subjects in cluster mode), made once, not per message.
    public let quickAddress: String
    public let durableAddress: String

    public init(name: String, quickAddress: String = "", durableAddress: String = "") {
        self.name = name
        self.quickAddress = quickAddress
        self.durableAddress = durableAddress
    }

    public var description: String { "node \(name)" }
}
