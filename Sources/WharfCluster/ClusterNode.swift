import Foundation
import Logging
import NIOCore
import Synchronization
import WharfCore
import WharfMQTT
import WharfMetrics
import WharfNATS

/// This node's part in a cluster: the broker's `ClusterLink` over NATS
/// JetStream. It announces the node (a lease in `wharf_nodes`) and its
/// subscriptions (the route index, `wharf_routes`), follows the other
/// nodes' announcements into the broker's subscription tree, forwards
/// messages to them (QoS 0 over core NATS, QoS 1/2 through `WHARF_N`),
/// reads what they forward to it, and keeps the retained store in step
/// with the cluster's (`wharf_retained`).
///
/// Everything that must outlive a node is JetStream's; the node only
/// caches. Losing NATS makes the node not ready (with the reason) while its
/// local clients keep being served; it catches up when NATS is back.
public final class ClusterNode: ClusterLink, Sendable {
    public let options: ClusterOptions
    /// This run of the node: a restarted node with the same name is another run.
    public let bootId: String
    public let startedAt: Date
    let startedAtInstant = ContinuousClock.now
    let connection: NATSConnection
    let jetStream: JetStream
    let logger: Logger
    let state = Mutex(State())
    let statistics = Mutex(Statistics())
    let assets: ClusterAssets
    /// Flow control for what other nodes forward here.
    let inbound: ClusterInbound
    /// Persistent sessions' subscriptions, routed to their queues
    /// (ClusterNode+inboxes). A lock of its own, held while the broker's
    /// tree changes, so changes from the watch and from this node's own
    /// writes go in the order they were worked out.
    let inboxRoutes = Mutex(InboxRouteTable())
    /// The inbound QoS 2 exchanges routed here, and whether every copy was
    /// stored (ClusterNode+exchanges). A lock of its own: taken per
    /// exchange on the connections' loops.
    let exchangeOutcomes = Mutex(ExchangeOutcomes())
    /// Consumer groups with members on live nodes, routed to their queues
    /// (ClusterNode+groups). A lock of its own, held while the broker's
    /// tree changes, like `inboxRoutes`.
    let groupRoutes = Mutex(GroupRouteTable())

    struct State {
        var broker: Broker?
        var stopped = false
        var readiness = ClusterReadiness(leaseSeconds: 10)
        var buckets: Buckets?
        var leaseRenewedAt: ContinuousClock.Instant?
        /// Other nodes by name, as their leases say.
        var nodes: [String: NodeLease] = [:]
        /// One destination object per node name, for the subscription tree.
        var remoteNodes: [String: RemoteNode] = [:]
        /// The route index as read, by node, then route key.
        var routes: [String: [String: Route]] = [:]
        /// Nodes whose routes are in the broker's tree now (live ones).
        var routedNodes: Set<String> = []
        /// This node's interest: filter -> highest QoS granted.
        var interest: [String: QoS] = [:]
        /// Filters whose route entry must be written again (failed, or
        /// changed while NATS was away).
        var unannounced: Set<String> = []
        /// Retained entries by key: the topic (to clear it when its key is
        /// purged), and for the janitor the revision and expiry.
        var retainedEntries: [String: RetainedEntry] = [:]
        var watchers: [KeyValueWatcher] = []
        var inbox: JetStreamOrderedConsumer?
        var quickInbox: NATSSubscription?
        /// Release requests for this node's sessions (`wn.ctl.<node>`).
        var releaseService: NATSSubscription?
        /// Questions about exchanges routed here (`wn.xq.<node>`).
        var exchangeService: NATSSubscription?
        var takeover = TakeoverTable()
        /// Persistent sessions claimed here, by client id (ClusterNode+sessions).
        var claimed: [String: ClaimedSession] = [:]
        /// Readers of the queues of the sessions delivered here, by client id
        /// (ClusterNode+inboxes).
        var followers: [String: InboxFollower] = [:]
        /// The consumer groups with members here, pulling from their
        /// queues, by group text (ClusterNode+groups).
        var groupPullers: [String: GroupPuller] = [:]
        /// Connected records with a will, by key, as the sessions watch
        /// read them, and their keys by owning run (ClusterNode+wills);
        /// `sessionsLoaded` once caught up.
        var heldWills: [String: HeldWill] = [:]
        var willsByOwner = RecordsByOwner()
        /// The records without a will by owning run, as the sessions watch
        /// read them; the adoptions under way (by key), and the client ids
        /// of the sessions adopted here (ClusterNode+orphans).
        var recordsByOwner = RecordsByOwner()
        var adopting: Set<String> = []
        var adopted: Set<String> = []
        var sessionsLoaded = false
        /// The last revision of `wharf_sessions` the watch applied here:
        /// records up to it are in `inboxRoutes` (ClusterNode+groupReleases).
        var sessionsWatchRevision: UInt64 = 0
        /// The last read of the sessions bucket's last revision, shared by
        /// the group entries given out again while it is on its way.
        var sessionsRevisionRead: (startedAt: ContinuousClock.Instant, task: Task<UInt64?, Never>)?
        /// Nodes that withdrew their lease (a clean stop): they deliver nothing.
        var withdrawn: Set<String> = []
        /// The newest store time (server seconds) of any lease the watch of
        /// `wharf_nodes` brought, this node's own included: how far this
        /// node's view of the leases reaches (`leaseAge`).
        var leaseReach: Double = 0
        /// Fences waiting for an answer, by session.
        var fenceWakers: [String: [CheckedContinuation<Void, Never>]] = [:]
        var timers: [RepeatedTask] = []
        var lastProblem: String?
        /// Where this node's metrics answer (set once the listener bound).
        var metricsURL: String?
    }

    struct Buckets: Sendable {
        var nodes: KeyValueBucket
        var routes: KeyValueBucket
        var retained: KeyValueBucket
        var sessions: SessionStore
    }

    struct RetainedEntry: Sendable {
        var topic: String
        var revision: UInt64
        /// Monotonic nanoseconds; nil: it never expires.
        var expiresAt: UInt64?
    }

    struct Route: Sendable, Equatable {
        var filter: String
        var qos: QoS
    }

    struct Statistics {
        var forwarded: [Int] = [0, 0, 0]
        var received = 0
        var forwardsPending = 0
        var forwardFailures = 0
        var errors: [String: Int] = [:]
        var latency = LatencyTracker(now: Clock.nowNanos())
        /// The caller's cache for messages arriving from other nodes (they
        /// all arrive on the connection's loop).
        var inboundRoutes = RouteCache()
        /// Numbers this run's forwards (with `bootId`, their `Nats-Msg-Id`).
        var forwardSequence: UInt64 = 0
        /// Offline sessions' backlogs are being read (ClusterNode+inboxes).
        var refreshingBacklogs = false
        /// Groups' backlogs are being read (ClusterNode+groups).
        var refreshingGroupBacklogs = false
        /// Whether a publish may go into a group's queue, by the queue's
        /// subject (ClusterNode+groups, `admit`).
        var groupAdmissions: [String: GroupAdmission] = [:]
        /// `drop-oldest` deletes still owed, by the group queue's subject;
        /// a key is there while its one deleting task runs (ClusterNode+groups).
        var groupDropsOwed: [String: Int] = [:]
    }

    /// Starts connecting to NATS at once; `attach` and `run` do the rest.
    public init(options: ClusterOptions, eventLoop: any EventLoop, logger: Logger = Logger(label: "wharf.cluster")) throws {
        self.options = options
        self.logger = logger
        bootId = UUID().uuidString.lowercased()
        startedAt = Date()
        assets = ClusterAssets(
            replicas: options.replicas, lease: options.lease, maxQueuedPerSession: options.maxQueuedPerSession)
        var nats = options.nats
        nats.name = "wharf \(options.nodeName)"
        // A broker keeps trying: NATS coming back makes it ready again.
        nats.maxConnectRounds = nil
        let leaseSeconds = Double(options.lease.components.seconds)
        state.withLock { $0.readiness = ClusterReadiness(leaseSeconds: leaseSeconds) }
        let statusBox = StatusBox()
        connection = try NATSConnection(options: nats, eventLoop: eventLoop, logger: logger) { status in
            statusBox.node?.natsStatusChanged(status)
        }
        jetStream = JetStream(connection: connection, timeout: .seconds(5))
        let connection = self.connection
        let routeBox = StatusBox()
        inbound = ClusterInbound(loop: eventLoop, setReading: { connection.setReading($0) }) { forward, inbound in
            routeBox.node?.route(forward, from: inbound) ?? false
        }
        statusBox.node = self
        routeBox.node = self
    }

    /// Becomes `broker`'s link: from now on the broker reports its
    /// subscriptions here, and the ones it has are announced once ready.
    public func attach(to broker: Broker) {
        let interest = broker.attachCluster(self)
        broker.clusterSessions = self
        state.withLock { state in
            state.broker = broker
            for (filter, qos) in interest {
                state.interest[filter] = qos
                state.unannounced.insert(filter)
            }
        }
        // Groups the sessions restored from this node's log joined.
        for group in broker.groupsBeforeCluster { groupOpened(group) }
    }

    /// Brings the node into the cluster: waits for NATS, puts the streams
    /// and buckets in place, starts reading and announcing. Returns once
    /// that is done (or the node stopped); the node is ready when its
    /// caches have caught up (`readiness`).
    public func run() async {
        do {
            try startReleaseService()
            try startExchangeService()
        } catch {
            logger.error("cannot listen for requests from other nodes", metadata: ["problem": "\(error)"])
        }
        while !isStopped {
            do {
                try await connection.waitUntilConnected()
                let buckets = try await provision()
                state.withLock { state in
                    state.buckets = buckets
                    state.readiness.assetsReady = true
                    state.readiness.assetsProblem = nil
                }
                let inbox = try openInbox()
                await startReaders(inbox: inbox, buckets)
                startTimers()
                await dropSessionsTakenElsewhere()
                logger.info(
                    "joined the cluster", metadata: ["node": "\(options.nodeName)", "replicas": "\(options.replicas)"])
                return
            } catch {
                let problem = "\(error)"
                state.withLock { state in
                    state.readiness.assetsProblem = problem
                    state.lastProblem = problem
                }
                count(error: error)
                logger.warning("cannot join the cluster yet; retrying", metadata: ["problem": "\(problem)"])
                // What this attempt started goes, so the next one does not
                // read every forward twice.
                await abandonStart()
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Undoes a start that failed half way: readers and watchers stopped,
    /// their readiness forgotten.
    private func abandonStart() async {
        let (watchers, inbox, quick) = state.withLock { state in
            defer {
                state.watchers = []
                state.inbox = nil
                state.quickInbox = nil
                state.readiness.inboxReady = false
                state.readiness.leasesLoaded = false
                state.readiness.routesLoaded = false
                state.readiness.retainedLoaded = false
            }
            return (state.watchers, state.inbox, state.quickInbox)
        }
        for watcher in watchers { await watcher.stop() }
        await inbox?.stop()
        quick?.unsubscribe()
    }

    /// Creates (or finds) the streams and buckets every node uses.
    private func provision() async throws -> Buckets {
        _ = try await jetStream.ensureStream(assets.forwardStream)
        _ = try await jetStream.ensureStream(assets.sessionQueues)
        _ = try await jetStream.ensureStream(assets.groupQueues)
        let nodes = try await KeyValueBucket.ensure(assets.nodes, in: jetStream)
        let routes = try await KeyValueBucket.ensure(assets.routes, in: jetStream)
        let sessions = try await KeyValueBucket.ensure(assets.sessions, in: jetStream)
        let retained = try await KeyValueBucket.ensure(assets.retained, in: jetStream)
        return Buckets(
            nodes: nodes, routes: routes, retained: retained, sessions: SessionStore(bucket: sessions, node: options.nodeName, boot: bootId)
        )
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Whether the node serves cluster traffic, and why not.
    public var readiness: (ready: Bool, reason: String?) {
        var (readiness, inbox, watcher) = state.withLock { state in
            var readiness = state.readiness
            readiness.lastProblem = state.lastProblem
            readiness.leaseAge = state.leaseRenewedAt.map { at in
                let (seconds, attoseconds) = (ContinuousClock.now - at).components
                return Double(seconds) + Double(attoseconds) / 1e18
            }
            let (inbox, watcher) = Self.awaitedReader(readiness, state)
            return (readiness, inbox, watcher)
        }
        // The connection's status now, not the last one reported here: the
        // first (connected) can come before `init` has set up the report
        // (a Swift test's nodes said "NATS: connecting" for a minute while
        // they worked).
        let status = connection.status
        readiness.natsConnected = status.isConnected
        readiness.natsStatus = "\(status)"
        // Asked outside this node's lock: the reader has its own.
        if !readiness.isReady { readiness.readerProgress = inbox?.progress ?? watcher?.progress }
        return (readiness.isReady, readiness.reason)
    }

    /// The reader a node that is not ready waits for, in
    /// `ClusterReadiness.reason`'s order: the inbox, or a bucket's watch.
    private static func awaitedReader(
        _ readiness: ClusterReadiness, _ state: State
    ) -> (inbox: JetStreamOrderedConsumer?, watcher: KeyValueWatcher?) {
        if !readiness.inboxReady { return (state.inbox, nil) }
        let bucket: String?
        if !readiness.leasesLoaded {
            bucket = state.buckets?.nodes.name
        } else if !readiness.routesLoaded {
            bucket = state.buckets?.routes.name
        } else if !readiness.retainedLoaded {
            bucket = state.buckets?.retained.name
        } else {
            bucket = nil
        }
        return (nil, bucket.flatMap { name in state.watchers.first { $0.bucket.name == name } })
    }

    func natsStatusChanged(_ status: NATSConnectionStatus) {
        if status.isConnected {
            // What changed while NATS was away is announced again.
            reannounce()
        }
    }

    /// Leaves the cluster: the lease is withdrawn (other nodes stop routing
    /// here at once instead of after the lease), readers stop, NATS closes.
    public func stop() async {
        let (watchers, inbox, quick, timers, buckets) = state.withLock { state in
            state.stopped = true
            defer {
                state.watchers = []
                state.timers = []
            }
            return (state.watchers, state.inbox, state.quickInbox, state.timers, state.buckets)
        }
        for timer in timers { timer.cancel() }
        await finishRecordWrites(within: .seconds(2))
        await stopFollowers()
        for watcher in watchers { await watcher.stop() }
        await inbox?.stop()
        quick?.unsubscribe()
        state.withLock { $0.releaseService }?.unsubscribe()
        state.withLock { $0.exchangeService }?.unsubscribe()
        if let buckets { try? await buckets.nodes.delete(options.nodeName) }
        await connection.close()
    }

    func count(error: any Error) {
        let kind: String
        switch error {
        case JetStreamError.timeout, NATSError.timeout: kind = "timeout"
        case JetStreamError.noResponders, NATSError.noResponders: kind = "no_responders"
        case JetStreamError.api: kind = "api"
        case KeyValueError.jetStream(let inner): return count(error: inner)
        default: kind = "connection"
        }
        statistics.withLock { $0.errors[kind, default: 0] += 1 }
    }
}

/// Lets the connection's status callback reach the node once it exists.
private final class StatusBox: @unchecked Sendable {
    weak var node: ClusterNode?
}

/// What a node's lease says about it (JSON in `wharf_nodes`).
struct NodeAnnouncement: Codable, Sendable, Equatable {
    var bootId: String
    var metricsURL: String?
    var startedAtSeconds: Double
}
