import Synchronization
import WharfMQTT

/// The broker core: sessions by client id, the subscription trie and the
/// retained store. No sockets: the server calls it from connection handlers
/// on any event loop, and tests call it directly.
///
/// Locks are short and never held across I/O; when two are held, in the
/// order `LockLevel` gives (checked in debug builds).
public final class Broker: Sendable {
    public let limits: BrokerLimits
    /// `[auth] acl_file`: who may publish, subscribe to and receive what;
    /// nil without one (everything is allowed, and nothing is checked).
    public let accessPolicy: AccessPolicy?
    public let metrics: any BrokerMetrics
    /// Broker-wide latency; connections record into it by event loop.
    public let latency: LatencyRecorder
    /// Published messages per topic (capped) and per prefix.
    public let topicStatistics: TopicStatistics
    /// False when metrics are switched off: no latency or per-topic recording.
    public let recordsDetail: Bool
    /// TTL and delivery-attempt limits by topic pattern.
    public let policies: DeliveryPolicies
    /// Retry backoff for refused deliveries, and the de-duplication window.
    public let delivery: DeliverySettings
    /// `wharf-msg-id` values seen per topic within the window.
    public let deduplication: PublisherDeduplication
    /// Cluster mode: the inbound QoS 2 exchanges this node routed or was
    /// forwarded (`InboundExchange.key`), for as long as JetStream
    /// recognises a repeated message id (its duplicate window, 2 minutes).
    let exchangesSeen = PublisherDeduplication(windowSeconds: 120, capacity: 200_000)
    /// Where durable effects go (see `BrokerJournal` for the contract);
    /// `InMemoryJournal` keeps nothing (`--in-memory`).
    public let journal: any BrokerJournal
    /// `journal.isDurable`, read once: the paths that write to the journal
    /// test it before building anything for it.
    public let isJournaling: Bool

    /// By client id, compared byte for byte.
    let sessions = OrderedMutex<[ExactString: Session]>(.sessions, [:])
    let tree = OrderedMutex(.tree, SubscriptionTree())
    let retained = Mutex(RetainedStore())
    /// Consumer groups by name and filter (see `SharedSubscription.key`).
    let groups = OrderedMutex<[String: ConsumerGroup]>(.groups, [:])
    /// Timed work (see Broker+timers): offline sessions with a finite expiry,
    /// wills waiting out their delay, refused messages waiting out their backoff.
    let expiringSessions = Mutex<[ObjectIdentifier: ExpiringSession]>([:])
    let pendingWills = Mutex<[ExactString: PendingWill]>([:])
    let redeliveries = Mutex(RedeliverySchedule())
    /// Cluster mode's link to the other nodes (`attachCluster`); nil on a single node.
    let clusterLinkStorage = ClusterLinkStorage()

    public init(
        limits: BrokerLimits = BrokerLimits(), metrics: any BrokerMetrics = BrokerCounters(),
        latency: LatencyRecorder = LatencyRecorder(), topicStatistics: TopicStatistics = TopicStatistics(),
        recordsDetail: Bool = true, policies: DeliveryPolicies = DeliveryPolicies(), delivery: DeliverySettings = DeliverySettings(),
        journal: any BrokerJournal = InMemoryJournal(), accessPolicy: AccessPolicy? = nil
    ) {
        self.accessPolicy = accessPolicy
        self.journal = journal
        self.isJournaling = journal.isDurable
        self.recordsDetail = recordsDetail
        self.policies = policies
        self.limits = limits
        self.metrics = metrics
        self.latency = latency
        self.topicStatistics = topicStatistics
        self.delivery = delivery
        self.deduplication = PublisherDeduplication(windowSeconds: delivery.dedupWindow, capacity: delivery.dedupCapacity)
    }

    /// Every live connection (to tell them the broker is stopping).
    public var connections: [any DeliveryTarget] {
        sessions.withLock { Array($0.values) }.compactMap(\.owner)
    }

    public var sessionCount: Int { sessions.withLock { $0.count } }
    /// This node's subscriptions (other nodes' are `remoteRouteCount`). In
    /// cluster mode a persistent session's plain subscriptions route to its
    /// queue in the cluster, outside this node's own entries in the tree:
    /// they are counted where the session is held.
    public var subscriptionCount: Int {
        let own = tree.withLock { $0.count - $0.remoteCount - $0.inboxCount }
        guard clusterLinkStorage.link != nil else { return own }
        let routed = sessions.withLock { store in
            store.values.reduce(0) { $0 + ($1.isRoutedByCluster ? $1.plainSubscriptionCount : 0) }
        }
        return own + routed
    }
    public var retainedCount: Int { retained.withLock { $0.count } }
}
