/// Another node's lease as this node's watch of `wharf_nodes` last brought
/// it: what the node announced, and when it was renewed.
struct NodeLease: Sendable {
    var announcement: NodeAnnouncement
    /// When this node read it, less how old it already was then.
    var seenAt: ContinuousClock.Instant
    /// When the server stored it (seconds since the epoch).
    var storedAt: Double

    /// How long the lease has gone without renewal, as far as this node can
    /// tell: the lesser of the time since it was stored and how far past it
    /// the newest lease the watch brought reaches (`reach`: its store time,
    /// this node's own renewals included).
    ///
    /// The second stops growing when the watch stalls (NATS trouble on this
    /// node's side): every live node renews every fifth of a lease, this one
    /// too, so a watch that keeps up brings newer leases all the time, and
    /// one that does not must not make others look dead. Measured by the
    /// clock alone, a chaos run's node whose watch stalled for 10 s (while
    /// its own writes went through) took a live node's sessions as orphans
    /// while that node still delivered them, and a QoS 2 message to a
    /// consumer group's member was lost.
    func age(now: ContinuousClock.Instant, reach: Double) -> Duration {
        let reached = Duration.milliseconds(Int64(max(0, min(reach - storedAt, 86_400)) * 1000))
        return min(now - seenAt, reached)
    }
}
