import WharfMQTT

/// Cluster mode's seam for persistent sessions: the cluster holds each
/// one's record (owner, subscriptions, will) and decides which node may
/// deliver it. A connection asks before it opens a session that outlives
/// it, tells it when the session's subscriptions change, and when it ends.
/// Without a cluster the broker never calls any of this.
public protocol ClusterSessionDirectory: AnyObject, Sendable {
    /// A CONNECT of a session that outlives its connection: the record is
    /// claimed for this node and every other node that may still deliver
    /// the session has let go of it (or its lease lapsed) when this returns
    /// `.claimed`. May take up to a lease when a node died. A session that
    /// ends with its connection is claimed only if the client has a record
    /// (its session lives on another node): otherwise `.notRecorded`, and
    /// it stays this node's alone.
    func claimSession(_ connect: ClusterSessionConnect) async -> ClusterSessionClaim

    /// The claimed connection is open here, delivering `session`: `release`
    /// closes it when a connect elsewhere takes the session (or this node
    /// lost its lease), and calls `done` once nothing of it is delivered any
    /// more. A session routed by the cluster (`Session.isRoutedByCluster`)
    /// is fed from its queue there from now until `sessionEnded`.
    func sessionDelivering(clientId: String, epoch: UInt64, session: Session, release: @escaping ClusterSessionRelease)

    /// The session's subscriptions changed: added (or replaced) ones, and
    /// filters it no longer has. `journal`: the connection's writer, whose
    /// SUBACK/UNSUBACK waits for the record.
    func sessionSubscriptionsChanged(
        clientId: String, epoch: UInt64, subscribed: [ClusterSessionSubscription], unsubscribed: [String],
        journal: (any JournalWriter)?)

    /// The client sent PUBREC for a QoS 2 delivery from the session's queue:
    /// the record keeps the packet id, so that a connection on another node
    /// sends PUBREL for it rather than the message again, and the packet id
    /// the session gave out last (`lastPacketId`), from which the next
    /// node's copy goes on. `journal`: the connection's writer, whose
    /// PUBREL waits for the record.
    func sessionReleased(
        clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery, lastPacketId: UInt16, journal: (any JournalWriter)?)

    /// The client sent PUBREC for a QoS 2 delivery `group` handed over from
    /// its queue in the cluster: as for one from the session's queue, the
    /// record keeps the packet id (with the entry's place in the group's
    /// queue) before the PUBREL (the commit of `journal`) goes out, and the
    /// entry leaves that queue. The message is the member's from then on: a node that dies before PUBCOMP leaves the
    /// next one to send PUBREL, never the message to another member.
    func sessionReleased(
        clientId: String, epoch: UInt64, packetId: UInt16, lastPacketId: UInt16, from group: ConsumerGroup, _ message: Message,
        journal: (any JournalWriter)?)

    /// The client sent PUBCOMP for it: the record forgets the packet id
    /// (the client may reuse it at once) but keeps the place in the queue
    /// until the queue is purged past it, so that a node that died in
    /// between does not leave the entry to be sent again as a new message.
    /// Sequence 0: a delivery not from the session's queue (one a group
    /// handed over, whose packet id the record may keep).
    func sessionCompleted(clientId: String, epoch: UInt64, _ delivery: ClusterReleasedDelivery)

    /// New inbound QoS 2 PUBLISHes, by packet id: the record holds their
    /// exchanges (one write for all) before the messages are routed. `then`
    /// says whether the record took them (false: the connection must close
    /// unrouted, so the client sends them again).
    func sessionExchangesBegun(
        clientId: String, epoch: UInt64, _ exchanges: [(packetId: UInt16, exchange: InboundExchange)],
        then: @escaping @Sendable (Bool) -> Void)

    /// `exchange`, under `packetId`, was routed in full: the record says
    /// so, and the PUBREC (the commit of `journal`) waits for it. A failed
    /// write fails that commit: no PUBREC, the connection closes.
    func sessionExchangeRouted(
        clientId: String, epoch: UInt64, packetId: UInt16, exchange: InboundExchange, journal: (any JournalWriter)?)

    /// PUBREL for `packetId`: the record drops its exchange, and the PUBCOMP
    /// waits for that (a packet id the record still held would make the
    /// client's next message under it look like a resend elsewhere).
    func sessionExchangeCompleted(clientId: String, epoch: UInt64, packetId: UInt16, journal: (any JournalWriter)?)

    /// The claimed connection ended here without a takeover: the record says
    /// offline since now (`kept`), or goes (the session ended with it).
    /// `willHeld`: the will waits out its delay here, and the record keeps
    /// it so that another node fires it if this one dies first; otherwise
    /// the record drops it (a clean DISCONNECT, or published already).
    func sessionEnded(clientId: String, epoch: UInt64, kept: Bool, willHeld: Bool)

    /// A will this node held back for its delay went out: the record no
    /// longer carries it.
    func sessionWillPublished(clientId: String)

    /// An offline session expired here: its record goes.
    func sessionExpired(clientId: String)
}

/// Closes a connection whose session the cluster takes away, then calls
/// `done` (on any thread).
public typealias ClusterSessionRelease = @Sendable (_ why: ClusterReleaseReason, _ done: @escaping @Sendable () -> Void) -> Void

public enum ClusterReleaseReason: Sendable {
    /// A connect of the client on another node took the session over.
    case takenOver
    /// This node could not renew its cluster lease: the client should
    /// connect to another node.
    case leaseLost
}

/// What a CONNECT asks of the cluster.
public struct ClusterSessionConnect: Sendable {
    public var clientId: String
    public var cleanStart: Bool
    /// Seconds the session outlives the connection (`UInt32.max`: forever).
    public var expiryInterval: UInt32
    public var will: Message?
    public var willDelay: UInt32

    public init(clientId: String, cleanStart: Bool, expiryInterval: UInt32, will: Message?, willDelay: UInt32) {
        self.clientId = clientId
        self.cleanStart = cleanStart
        self.expiryInterval = expiryInterval
        self.will = will
        self.willDelay = willDelay
    }
}

/// A QoS 2 delivery from the session's queue in the cluster that the client
/// received (PUBREC): its packet id, and its place in the queue, which stays
/// until PUBCOMP.
public struct ClusterReleasedDelivery: Sendable, Equatable {
    public var packetId: UInt16
    public var sequence: UInt64

    public init(packetId: UInt16, sequence: UInt64) {
        self.packetId = packetId
        self.sequence = sequence
    }
}

/// One subscription as the session record keeps it.
public struct ClusterSessionSubscription: Sendable, Equatable {
    public var request: SubscribePacket.Subscription
    /// 5.0 subscription identifier; 0: none.
    public var identifier: UInt32

    public init(_ request: SubscribePacket.Subscription, identifier: UInt32) {
        self.request = request
        self.identifier = identifier
    }
}

/// The cluster's answer to a CONNECT.
public enum ClusterSessionClaim: Sendable {
    /// This node delivers the session from now on.
    case claimed(ClusterSessionGrant)
    /// A session that ends with its connection, of a client with no record
    /// (or NATS away): opened here as on a single node.
    case notRecorded
    /// Not now (NATS away, the record contended, another connect of the
    /// client took it meanwhile): CONNACK refuses with "server unavailable",
    /// and the client tries again.
    case unavailable(String)
}

public struct ClusterSessionGrant: Sendable {
    /// This connection's epoch: its later reports name it.
    public var epoch: UInt64
    /// CONNACK's session present: the record was kept (not a clean start,
    /// not expired).
    public var sessionPresent: Bool
    /// The session was last delivered by this node: its copy here is
    /// current. Otherwise a copy here is stale, and the record's
    /// subscriptions replace it.
    public var lastDeliveredHere: Bool
    public var subscriptions: [ClusterSessionSubscription]
    /// QoS 2 deliveries past PUBREC (the client has the message; PUBCOMP is
    /// due): the new connection sends PUBREL for each, not the PUBLISH again.
    public var released: [ClusterReleasedDelivery]
    /// Inbound QoS 2 exchanges awaiting PUBREL: a PUBLISH sent again under
    /// one of their ids is acknowledged, and routed again (under the same
    /// identity) only if it was not routed in full.
    public var received: [ClusterReceivedExchange]
    /// The session's queue up to this place may have been sent to the
    /// client by the connection before (0: nothing was): sent here with DUP.
    public var resendThrough: UInt64
    /// Places in the queue whose QoS 2 delivery completed but that were not
    /// purged yet: not sent again.
    public var completed: [UInt64]
    /// The packet id the session gave out last, as its record knows it (0:
    /// not known): a new copy goes on after it (`Session.continuePacketIds`).
    public var lastPacketId: UInt16

    public init(
        epoch: UInt64, sessionPresent: Bool, lastDeliveredHere: Bool, subscriptions: [ClusterSessionSubscription],
        released: [ClusterReleasedDelivery] = [], received: [ClusterReceivedExchange] = [], resendThrough: UInt64 = 0,
        completed: [UInt64] = [], lastPacketId: UInt16 = 0
    ) {
        self.epoch = epoch
        self.sessionPresent = sessionPresent
        self.lastDeliveredHere = lastDeliveredHere
        self.subscriptions = subscriptions
        self.released = released
        self.received = received
        self.resendThrough = resendThrough
        self.completed = completed
        self.lastPacketId = lastPacketId
    }
}
