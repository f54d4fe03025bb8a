import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// The route index: this node's subscriptions announced, the other nodes'
/// followed into the broker's subscription tree.
extension ClusterNode {
    public func localInterestChanged(_ filter: String, maxQoS: QoS?, journal: (any JournalWriter)?) {
        let bucket = state.withLock { state -> KeyValueBucket? in
            state.interest[filter] = maxQoS
            guard let bucket = state.buckets?.routes else {
                state.unannounced.insert(filter)
                return nil
            }
            return bucket
        }
        guard let bucket else { return }
        // The SUBACK waits for the route to be written, so a publisher on
        // another node that hears of the SUBACK finds the route. If the write
        // fails, the SUBACK still goes (the subscription works on this node)
        // and the route is written again once NATS answers.
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        announce(filter, maxQoS, in: bucket) { gate?.finished(ok: true) }
    }

    /// Writes (or deletes) this node's route for `filter`.
    func announce(_ filter: String, _ qos: QoS?, in bucket: KeyValueBucket, then done: (@Sendable () -> Void)? = nil) {
        let key = ClusterNames.routeKey(node: options.nodeName, filter: filter)
        var value = ByteBuffer()
        if let qos {
            value.writeInteger(qos.rawValue)
            value.writeString(filter)
        }
        storeEntry(bucket, key: key, value, delete: qos == nil) { [self] ok in
            if !ok { _ = state.withLock { $0.unannounced.insert(filter) } }
            done?()
        }
    }

    /// Writes again what could not be written, and (after a reconnect)
    /// everything: another node may have lost the index's tail with a server.
    func reannounce(all: Bool = false) {
        let (pending, bucket) = state.withLock { state -> ([(String, QoS?)], KeyValueBucket?) in
            guard let bucket = state.buckets?.routes else { return ([], nil) }
            let filters = all ? Set(state.interest.keys).union(state.unannounced) : state.unannounced
            state.unannounced.removeAll()
            return (filters.map { ($0, state.interest[$0]) }, bucket)
        }
        guard let bucket else { return }
        for (filter, qos) in pending { announce(filter, qos, in: bucket) }
    }

    /// Follows the route index; the caller waits until it has caught up.
    func followRoutes(_ bucket: KeyValueBucket) -> KeyValueWatcher {
        KeyValueWatcher(
            bucket: bucket, onCaughtUp: { [self] in routesLoaded() }, onProblem: { [self] in noteProblem($0) }
        ) { [self] entry in routeChanged(entry) }
    }

    private func routesLoaded() {
        // Our own old entries that no subscription here backs any more (a
        // restart ends clean sessions) go: other nodes would forward to
        // nobody. Then what this node has is announced.
        let (stale, bucket) = state.withLock { state -> ([String], KeyValueBucket?) in
            state.readiness.routesLoaded = true
            let mine = state.routes[options.nodeName] ?? [:]
            let stale = mine.values.map(\.filter).filter { state.interest[$0] == nil }
            return (stale, state.buckets?.routes)
        }
        if let bucket { for filter in stale { announce(filter, nil, in: bucket) } }
        reannounce(all: true)
    }

    private func routeChanged(_ entry: KeyValueEntry) {
        guard let node = ClusterNames.node(ofRouteKey: entry.key).map(String.init) else { return }
        var route: Route?
        if entry.operation == .put {
            var value = entry.value
            guard let raw = value.readInteger(as: UInt8.self), let qos = QoS(rawValue: raw),
                let filter = value.readString(length: value.readableBytes), !filter.isEmpty
            else { return }
            route = Route(filter: filter, qos: qos)
        }
        enum Change {
            case add(RemoteNode, Route)
            case remove(RemoteNode, String)
            case none
        }
        let (change, broker) = state.withLock { state -> (Change, Broker?) in
            let old = state.routes[node]?[entry.key]
            state.routes[node, default: [:]][entry.key] = route
            if node == options.nodeName, route == nil, let old, state.interest[old.filter] != nil {
                // Ours, removed by another node's janitor while we still want
                // it (it thought us gone): written again by the retry timer.
                state.unannounced.insert(old.filter)
            }
            guard node != options.nodeName, state.routedNodes.contains(node) else { return (.none, state.broker) }
            let remote = state.remoteNode(node)
            if let route { return (.add(remote, route), state.broker) }
            if let old { return (.remove(remote, old.filter), state.broker) }
            return (.none, state.broker)
        }
        switch change {
        case .add(let remote, let route) where Self.isGroupRoute(route.filter):
            setGroupRoute(route.filter, node: remote.name, present: true)
        case .remove(let remote, let filter) where Self.isGroupRoute(filter):
            setGroupRoute(filter, node: remote.name, present: false)
        case .add(let remote, let route): broker?.addRemoteRoute(remote, filter: route.filter, qos: route.qos)
        case .remove(let remote, let filter): broker?.removeRemoteRoute(remote, filter: filter)
        case .none: break
        }
    }

    /// A node became live or stopped being: its routes go into the tree or
    /// out of it (a dead node's subscribers went with it).
    func setRouted(_ node: String, live: Bool) {
        let (routes, remote, broker) = state.withLock { state -> ([Route], RemoteNode?, Broker?) in
            guard node != options.nodeName else { return ([], nil, nil) }
            if live {
                guard state.routedNodes.insert(node).inserted else { return ([], nil, nil) }
            } else {
                guard state.routedNodes.remove(node) != nil else { return ([], nil, nil) }
            }
            return (Array((state.routes[node] ?? [:]).values), state.remoteNode(node), state.broker)
        }
        guard let remote, let broker else { return }
        for route in routes {
            if Self.isGroupRoute(route.filter) {
                setGroupRoute(route.filter, node: node, present: live)
            } else if live {
                broker.addRemoteRoute(remote, filter: route.filter, qos: route.qos)
            } else {
                broker.removeRemoteRoute(remote, filter: route.filter)
            }
        }
        logger.info(live ? "node joined" : "node left", metadata: ["node": "\(node)", "routes": "\(routes.count)"])
    }
}

extension ClusterNode {
    /// How long a node's lease may be silent before the janitor removes its
    /// routes: well past a NATS election (several seconds here), so a live
    /// node is not cut off by one.
    var routeGrace: Duration { options.lease * 3 + .seconds(30) }

    /// The janitor's round for the route index: the entries of nodes whose
    /// lease has been silent for `routeGrace` leave the bucket (their
    /// subscribers went with them).
    func purgeRoutesOfGoneNodes() {
        guard liveNodes.map(\.name).min() == options.nodeName else { return }
        let (keys, bucket) = state.withLock { state -> ([String], KeyValueBucket?) in
            let now = ContinuousClock.now
            let gone = state.routes.keys.filter { node in
                guard node != options.nodeName, !(state.routes[node]?.isEmpty ?? true) else { return false }
                guard let lease = state.nodes[node] else { return true }
                return leaseAge(lease, state, now: now) > routeGrace
            }
            return (gone.flatMap { state.routes[$0]?.keys.map { $0 } ?? [] }, state.buckets?.routes)
        }
        guard let bucket, !keys.isEmpty else { return }
        logger.info("removing routes of nodes gone", metadata: ["routes": "\(keys.count)"])
        for key in keys.prefix(1_000) {
            bucket.write(key, ByteBuffer(), delete: true) { _ in }
        }
    }
}

extension ClusterNode.State {
    /// The one destination object of `name`.
    mutating func remoteNode(_ name: String) -> RemoteNode {
        if let existing = remoteNodes[name] { return existing }
        let node = RemoteNode(
            name: name, quickAddress: ClusterNames.quickForwards(to: name), durableAddress: ClusterNames.durableForwards(to: name))
        remoteNodes[name] = node
        return node
    }
}
