import Synchronization
import WharfMQTT

extension Session {
    // MARK: Cluster mode

    /// Cluster mode's persistent sessions: the session's queue is a stream
    /// in the cluster, which every node appends to and the delivering node
    /// reads into this queue. Its plain subscriptions then stay out of this
    /// node's tree (the cluster routes them to the queue), and what this
    /// queue holds is a window onto the cluster's, kept in step by
    /// `lastInboxSequence` and `oldestInboxSequence`. Set once, before the
    /// session subscribes to anything; never cleared.
    public var isRoutedByCluster: Bool { state.withLock { $0.routedByCluster } }

    func routeByCluster() {
        state.withLock { $0.routedByCluster = true }
    }

    /// The last place in the cluster queue enqueued here (0: none yet): a
    /// reader that starts again skips up to it.
    public var lastInboxSequence: UInt64 { state.withLock { $0.lastInboxSequence } }

    /// Where the cluster queue may be purged up to, not included: the
    /// oldest place still held here, or past the last one enqueued when
    /// nothing is held (acknowledged, or dropped and counted). Nil once the
    /// session's messages were discarded here (it went to another node, or
    /// ended): then nothing here says what was acknowledged.
    public var inboxFloor: UInt64? {
        state.withLock { state in
            guard state.inboxFloorKnown else { return nil }
            return state.outbound.oldestInboxSequence ?? state.lastInboxSequence &+ 1
        }
    }
}

extension Session {
    /// Subscriptions that are not shared ones (`$share/...` go to groups).
    var plainSubscriptionCount: Int {
        state.withLock { state in state.subscriptions.keys.count { !$0.string.hasPrefix("$share/") } }
    }
}

extension Session {
    /// Whether one of its plain subscriptions matches `topic`.
    public func hasPlainSubscription(matching topic: String) -> Bool {
        state.withLock { state in
            state.subscriptions.keys.contains { key in
                !key.string.hasPrefix("$share/") && TopicMatcher.matches(filter: key.string, topic: topic)
            }
        }
    }

    /// A place in the cluster queue this session passes over (a message for
    /// a subscription it no longer has).
    func skipInboxSequence(_ sequence: UInt64) {
        state.withLock { state in
            if sequence > state.lastInboxSequence { state.lastInboxSequence = sequence }
        }
    }
}
