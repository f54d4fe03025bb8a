import Synchronization
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
    /// `exchange`: an inbound QoS 2 exchange's message, which the other node
    /// takes once however often it is routed.
    func forward(_ message: Message, qos: QoS, to node: RemoteNode, exchange: InboundExchange?, journal: any JournalWriter)

    /// This node's interest in `filter` changed: `maxQoS` is the highest QoS
    /// its local subscriptions to it grant now, nil when none is left.
    /// `journal` is the writer of the connection whose SUBSCRIBE or
    /// UNSUBSCRIBE caused it (its SUBACK/UNSUBACK waits), nil otherwise.
    func localInterestChanged(_ filter: String, maxQoS: QoS?, journal: (any JournalWriter)?)

    /// A client published `message` with RETAIN (an empty payload clears
    /// the topic): the cluster's retained store takes it, through `journal`
    /// like a forward, so every node sees it.
    func retained(_ message: Message, journal: any JournalWriter)

    /// `message` for a persistent session's queue in the cluster (wherever
    /// the session is delivered, or none), as `delivery` says; written
    /// through `journal` like a forward, whose commit waits for it.
    /// `exchange`: as for `forward`, stored once.
    func append(
        _ message: Message, delivery: InboxDelivery, to inbox: RemoteInbox, exchange: InboundExchange?, journal: any JournalWriter)

    /// `message` for a consumer group's queue in the cluster (read by every
    /// node with members), written through `journal` like a forward.
    /// `exchange`: as for `forward`, stored once. What the group's bound and
    /// the message's policy made of it, as a group on one node says:
    /// `droppedMaxLength` for `reject-new`, `acceptedDroppedOldest` for
    /// `drop-oldest`; a full queue's drop is counted by the link.
    func append(_ message: Message, to group: RemoteGroup, exchange: InboundExchange?, journal: any JournalWriter)
        -> EnqueueResult.Outcome

    /// `group` got its first member on this node: the link feeds it from
    /// the cluster's queue from now on (the feed is attached before this
    /// returns), and tells every node to route the group's messages there.
    func groupOpened(_ group: ConsumerGroup)

    /// `group`'s last member on this node left: what the group holds here
    /// goes back to the cluster's queue for members elsewhere.
    func groupClosed(_ group: ConsumerGroup)
}

/// A consumer group's queue in the cluster, as a destination in the
/// subscription tree (cluster mode): one object per `$share/<group>/<filter>`
/// while any live node has members, so the publishing node appends one
/// copy for the whole group, wherever its members are.
public final class RemoteGroup: Sendable, CustomStringConvertible {
    public let name: String
    public let filter: String
    /// Where the link appends (a NATS subject in cluster mode), made once.
    public let address: String

    public init(name: String, filter: String, address: String = "") {
        self.name = name
        self.filter = filter
        self.address = address
    }

    public var description: String { "queue of group \(name) (\(filter))" }
}

/// A persistent session's queue in the cluster, as a destination in the
/// subscription tree (cluster mode): the session's subscriptions, from its
/// record, with the options they were made with. One object per client id
/// while the record exists, so overlapping filters give one copy.
public final class RemoteInbox: Sendable, CustomStringConvertible {
    public let clientId: String
    private let online = Atomic<Bool>(false)

    public init(clientId: String) {
        self.clientId = clientId
    }

    /// Whether a connection delivers the session now (its record says so):
    /// QoS 0 is not queued for an offline session, as on one node.
    public var isOnline: Bool {
        get { online.load(ordering: .relaxed) }
        set { online.store(newValue, ordering: .relaxed) }
    }

    public var description: String { "queue of \(clientId)" }
}

/// How one session gets one message from its queue in the cluster: what
/// the publishing node's match of the session's subscriptions decided.
public struct InboxDelivery: Sendable, Hashable {
    /// The highest QoS the matching subscriptions granted, no more than the message's.
    public var qos: QoS
    /// The retain flag as the session gets it (kept only with retain as published).
    public var retain: Bool
    public var identifiers: SubscriptionIdentifiers

    public init(qos: QoS, retain: Bool, identifiers: SubscriptionIdentifiers = .none) {
        self.qos = qos
        self.retain = retain
        self.identifiers = identifiers
    }
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
