/// Whether a node can serve cluster traffic, and if not, the first reason
/// in the order they matter: a value, so the rule is one tested function.
struct ClusterReadiness: Sendable, Equatable {
    var natsStatus = "connecting"
    var natsConnected = false
    var assetsReady = false
    var assetsProblem: String?
    var inboxReady = false
    var leasesLoaded = false
    var routesLoaded = false
    var retainedLoaded = false
    /// Seconds since the node's lease was last renewed (nil: never).
    var leaseAge: Double?
    var leaseSeconds: Double
    /// The last JetStream failure, to say why a lease was not renewed.
    var lastProblem: String?
    /// Where the reader the first reason waits for is (a reader that never
    /// catches up shows why).
    var readerProgress: String?

    var reason: String? {
        if !natsConnected { return "NATS: \(natsStatus)" }
        if !assetsReady { return "JetStream streams and buckets not in place" + (assetsProblem.map { ": \($0)" } ?? "") }
        let progress = readerProgress.map { " (\($0))" } ?? ""
        if !inboxReady { return "not yet reading its forwards from JetStream" + progress }
        if !leasesLoaded { return "other nodes' leases not loaded yet" + progress }
        if !routesLoaded { return "route index not loaded yet" + progress }
        if !retainedLoaded { return "retained messages not loaded yet" + progress }
        guard let leaseAge else { return "lease not announced yet" }
        if leaseAge > leaseSeconds {
            return "lease not renewed for \(Int(leaseAge)) s (lease \(Int(leaseSeconds)) s)" + (lastProblem.map { ": \($0)" } ?? "")
        }
        return nil
    }

    var isReady: Bool { reason == nil }
}
