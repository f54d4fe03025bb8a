import WharfNATS

/// How a node joins its cluster (from `[cluster]`).
public struct ClusterOptions: Sendable {
    /// Unique among the nodes; a NATS subject token.
    public var nodeName: String
    public var nats: NATSConnectionOptions
    /// Copies JetStream keeps of the cluster's streams and buckets.
    public var replicas: Int
    /// How long a node's announcement lives without renewal.
    public var lease: Duration
    /// Where this node's metrics listener answers, announced so `wharf top`
    /// finds every node from one.
    public var metricsURL: String?
    /// How long a forward may take (retries through a NATS leader election
    /// included) before the publisher's acknowledgement is withheld.
    public var forwardDeadline: Duration = .seconds(10)
    /// Messages a persistent session's queue in the cluster holds at most:
    /// waiting and in flight (`max_queued_messages` + `max_inflight_messages`;
    /// 0: no limit). A limit of the stream every node shares, so nodes should
    /// agree: the last to start sets it.
    public var maxQueuedPerSession = 1_000
    /// Messages a consumer group's queue in the cluster holds at most
    /// (`max_queued_messages`; 0: no limit), shared like the sessions' limit.
    public var maxQueuedPerGroup = 1_000
    /// How long a consumer group's message pulled by a node may go without
    /// word from it before JetStream gives it to another node: what a
    /// member's messages wait when their node dies (a live node keeps what
    /// it holds alive). The same on every node: the group's consumer has one.
    public var groupAckWait: Duration = .seconds(30)
    /// Whether this node adopts the offline sessions of nodes that are gone
    /// (ClusterNode+orphans). Always on in a server; the unit tests turn it
    /// off where nodes of unrelated tests share one NATS cluster, so that
    /// only the node a test means adopts its sessions.
    var adoptsOrphanedSessions = true

    public init(nodeName: String, nats: NATSConnectionOptions, replicas: Int = 3, lease: Duration = .seconds(10)) {
        self.nodeName = nodeName
        self.nats = nats
        self.replicas = replicas
        self.lease = lease
    }
}
