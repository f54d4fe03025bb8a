/// This node's side of the takeover, per session: the epoch it delivers
/// to a live connection, and the connect that waits for releases. A value,
/// changed under the node's lock; `ClusterNode+takeover` moves the
/// messages. Follows the model (Tests/Models/session_takeover.pml):
/// `delivering` is its `serving`, `waits` its `pending`.
struct TakeoverTable: Sendable {
    private(set) var delivering: [String: UInt64] = [:]
    private(set) var waits: [String: ReleaseWait] = [:]

    /// A connect of `session` claimed the record: it waits, and an older
    /// connect or connection of its own here ends (the model's "closes at
    /// once"). Returns the epoch whose connection must close, if any.
    mutating func claimed(_ session: String, _ claim: SessionClaim) -> UInt64? {
        waits[session] = ReleaseWait(claim)
        return delivering.removeValue(forKey: session)
    }

    /// A release request for `epoch` of `session` arrived. Returns the
    /// epoch whose connection must close (before the answer goes), if any.
    mutating func releaseRequested(_ session: String, epoch: UInt64) -> UInt64? {
        let decision = ReleaseDecision(epoch: epoch, delivering: delivering[session], waiting: waits[session]?.epoch)
        if decision.abandonConnect { waits[session]?.releaseRequested(epoch: epoch) }
        return decision.closeConnection ? delivering.removeValue(forKey: session) : nil
    }

    mutating func released(_ session: String, by node: String, epoch: UInt64) {
        waits[session]?.released(by: node, epoch: epoch)
    }

    /// Nodes not live any more (their leases lapsed) no longer hold any wait.
    mutating func lapsed(_ nodes: Set<String>) {
        for session in waits.keys {
            for node in nodes { waits[session]?.leaseLapsed(node) }
        }
    }

    /// Where the wait of `session` for `epoch` stands: nil while it waits.
    /// Ended (it delivers, or was released) it leaves the table.
    mutating func outcome(_ session: String, epoch: UInt64) -> Bool? {
        guard let wait = waits[session], wait.epoch == epoch else { return false }
        if wait.abandoned {
            waits[session] = nil
            return false
        }
        guard wait.mayDeliver else { return nil }
        waits[session] = nil
        delivering[session] = epoch
        return true
    }

    /// Whom the wait of `session` for `epoch` still waits for.
    func waitingFor(_ session: String, epoch: UInt64) -> Set<String> {
        guard let wait = waits[session], wait.epoch == epoch else { return [] }
        return wait.waiting
    }

    /// The connection of `session` at `epoch` ended here (a disconnect).
    mutating func ended(_ session: String, epoch: UInt64) {
        if delivering[session] == epoch { delivering[session] = nil }
    }

    /// A connect gave up (its client went, or its deadline passed).
    mutating func gaveUp(_ session: String, epoch: UInt64) {
        if waits[session]?.epoch == epoch { waits[session] = nil }
    }
}
