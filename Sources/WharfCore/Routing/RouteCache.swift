/// The route of a publisher's last topic, kept by its connection: a device
/// or a feed publishes to the same topic over and over, and matching it
/// against the subscription tree again (a hash lookup per level, with the
/// wildcard branches) was the largest single cost of a QoS 0 publish.
///
/// Valid while the tree's generation is unchanged: every subscribe and
/// unsubscribe bumps it under the tree lock, and the cache is checked under
/// that lock, so a hit is exactly what a fresh match would find. A hit holds
/// the matched sessions until the next publish on another topic or a change
/// to the tree; one entry per connection bounds that.
public struct RouteCache: Sendable {
    var topic = ""
    var generation: UInt64 = 0
    var valid = false
    /// The matched targets (scratch space on a miss).
    var targets: [RouteTarget] = []

    public init() {}

    /// Whether the cached route holds for a topic `isLast` said was the last
    /// one routed, with the tree at `generation`.
    func hits(repeatedTopic: Bool, generation: UInt64) -> Bool {
        repeatedTopic && valid && generation == self.generation
    }

    /// Whether `topic` is the one last routed (so its checks passed then).
    public func isLast(_ topic: String) -> Bool {
        valid && sameUTF8(topic, self.topic)
    }

    /// Forgets the route (the targets' sessions with it).
    public mutating func clear() {
        valid = false
        targets.removeAll(keepingCapacity: true)
    }
}
