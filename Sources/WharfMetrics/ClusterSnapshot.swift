/// Cluster mode's figures for one node (absent from the snapshot of a
/// single node). Defined in docs/metrics.md.
public struct ClusterSnapshot: Codable, Sendable, Equatable {
    /// This node's name (`[cluster] name`) and the id of this run of it.
    public var node: String
    public var bootId: String
    /// True when the node can serve cluster traffic: connected to NATS,
    /// its streams and buckets in place, the route index and the retained
    /// messages loaded. `/readyz` says the same.
    public var ready: Bool
    /// Why not, in words, while `ready` is false.
    public var notReadyReason: String?
    /// The nodes whose leases are live, this one included, by name.
    public var liveNodes: [ClusterNodeSnapshot]
    /// What an acknowledged message survives here: `replicated` (held by a
    /// majority of the NATS servers, written to disk lazily).
    public var durability: String
    /// Copies JetStream keeps (`[cluster] replicas`).
    public var replicas: Int
    public var nats: NATSLinkSnapshot
    /// Messages this node sent to other nodes, by QoS (`"0"`, `"1"`,
    /// `"2"`), and received from them, since start.
    public var forwardedTotal: [String: Int]
    public var receivedTotal: Int
    /// Forwarded QoS 1/2 messages whose JetStream acknowledgement is awaited now.
    public var forwardsPending: Int
    /// Forwards and other JetStream writes that failed (timeout, no quorum,
    /// refused); each withheld its publisher's acknowledgement.
    public var forwardFailuresTotal: Int
    /// Other nodes' subscriptions known here (route index entries).
    public var remoteRoutes: Int
    /// Persistent sessions' subscriptions routed here to their queues in
    /// the cluster (every session's, wherever it is delivered). Optional so
    /// that a snapshot from a node that predates it still decodes.
    public var sessionRoutes: Int?
    /// Consumer groups with members on some live node, whose messages this
    /// node appends to their queues in the cluster (optional, as above).
    public var groupRoutes: Int?
    /// JetStream publish (forward, retained, route) to its acknowledgement.
    public var jetStreamLatency: LatencySnapshot
    /// JetStream API and KV failures since start, by kind (`timeout`,
    /// `no_responders`, `api`, `connection`), and messages from other nodes
    /// that could not be decoded (`bad_envelope`).
    public var errorsTotal: [String: Int]

    public init(
        node: String, bootId: String, ready: Bool, notReadyReason: String?, liveNodes: [ClusterNodeSnapshot],
        durability: String, replicas: Int, nats: NATSLinkSnapshot, forwardedTotal: [String: Int], receivedTotal: Int,
        forwardsPending: Int, forwardFailuresTotal: Int, remoteRoutes: Int, jetStreamLatency: LatencySnapshot,
        errorsTotal: [String: Int]
    ) {
        self.node = node
        self.bootId = bootId
        self.ready = ready
        self.notReadyReason = notReadyReason
        self.liveNodes = liveNodes
        self.durability = durability
        self.replicas = replicas
        self.nats = nats
        self.forwardedTotal = forwardedTotal
        self.receivedTotal = receivedTotal
        self.forwardsPending = forwardsPending
        self.forwardFailuresTotal = forwardFailuresTotal
        self.remoteRoutes = remoteRoutes
        self.jetStreamLatency = jetStreamLatency
        self.errorsTotal = errorsTotal
    }
}

/// A node as its lease announces it.
public struct ClusterNodeSnapshot: Codable, Sendable, Equatable {
    public var name: String
    /// Where its metrics listener answers (`http://host:port`), so
    /// `wharf top` can find every node from one; absent when it has none.
    public var metricsURL: String?
    /// Unix time the node started, in seconds.
    public var startedAtSeconds: Double

    public init(name: String, metricsURL: String?, startedAtSeconds: Double) {
        self.name = name
        self.metricsURL = metricsURL
        self.startedAtSeconds = startedAtSeconds
    }
}

/// The node's connection to NATS.
public struct NATSLinkSnapshot: Codable, Sendable, Equatable {
    public var connected: Bool
    /// The server it is connected to (`nats://host:port`), while connected.
    public var server: String?
    /// Successful reconnects since start.
    public var reconnectsTotal: Int
    /// The last PING/PONG round trip, in seconds.
    public var roundTripSeconds: Double?
    /// Requests awaiting their replies now.
    public var pendingRequests: Int
    /// The last error the connection saw.
    public var lastError: String?

    public init(connected: Bool, server: String?, reconnectsTotal: Int, roundTripSeconds: Double?, pendingRequests: Int, lastError: String?)
    {
        self.connected = connected
        self.server = server
        self.reconnectsTotal = reconnectsTotal
        self.roundTripSeconds = roundTripSeconds
        self.pendingRequests = pendingRequests
        self.lastError = lastError
    }
}
