import WharfNATS

/// What cluster mode keeps in JetStream, created (or found, or updated) by
/// every node at start: the same configs from every node, so whichever
/// starts first creates them and the rest find them as they want them.
struct ClusterAssets: Sendable {
    let replicas: Int
    let lease: Duration
    var maxQueuedPerSession = 1_000

    /// Forwards wait here for their node's reader. Two minutes is plenty:
    /// a reader that was gone longer belonged to a node whose clean
    /// sessions (the only ones forwarded to) are gone too.
    var forwardStream: StreamConfig {
        var config = StreamConfig(name: ClusterNames.forwardStream, subjects: [ClusterNames.forwardSubjects])
        config.replicas = replicas
        config.maxAge = .seconds(120)
        config.description = "Wharf: QoS 1/2 messages on their way to another node's subscribers"
        return config
    }

    /// Persistent sessions' queues (`SessionInbox`): one subject per
    /// session. A full queue refuses the new message (counted `queue_full`
    /// by the publishing node, as a full offline queue on one node drops
    /// the newest); messages stay until acknowledged, so no age limit.
    var sessionQueues: StreamConfig {
        var config = StreamConfig(name: SessionInbox.stream, subjects: [SessionInbox.subjects])
        config.replicas = replicas
        config.discard = .new
        config.maxMessagesPerSubject = maxQueuedPerSession > 0 ? Int64(maxQueuedPerSession) : -1
        config.discardNewPerSubject = maxQueuedPerSession > 0
        config.allowDirect = true
        config.duplicateWindow = .seconds(120)
        config.description = "Wharf: persistent sessions' queues, one subject per session"
        return config
    }

    /// Consumer groups' queues (`GroupQueue`): one subject per group, a
    /// work queue (an entry goes once acknowledged). No per-subject limit:
    /// the publishing node checks the group's bound before it appends
    /// (`GroupAdmission` says why JetStream's own cannot be used here).
    var groupQueues: StreamConfig {
        var config = StreamConfig(name: GroupQueue.stream, subjects: [GroupQueue.subjects])
        config.retention = .workQueue
        config.replicas = replicas
        config.duplicateWindow = .seconds(120)
        config.description = "Wharf: consumer groups' queues, one subject per $share group"
        return config
    }

    var nodes: KeyValueConfig {
        var config = KeyValueConfig(bucket: ClusterNames.nodesBucket, ttl: lease, replicas: replicas)
        config.description = "Wharf: node leases"
        return config
    }

    var routes: KeyValueConfig {
        var config = KeyValueConfig(bucket: ClusterNames.routesBucket, replicas: replicas)
        config.description = "Wharf: each node's subscriptions (the route index)"
        return config
    }

    var retained: KeyValueConfig {
        var config = KeyValueConfig(bucket: ClusterNames.retainedBucket, replicas: replicas)
        config.description = "Wharf: retained messages"
        return config
    }

    /// Persistent sessions' records (`SessionStore`).
    var sessions: KeyValueConfig {
        var config = KeyValueConfig(bucket: ClusterNames.sessionsBucket, replicas: replicas)
        config.description = "Wharf: persistent sessions (owner, subscriptions, will)"
        return config
    }
}
