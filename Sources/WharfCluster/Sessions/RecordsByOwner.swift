/// Session records grouped by the run of the node that owns them (its name
/// and the boot id the record names), as the sessions watch reads them.
///
/// A node looks for records whose owner is gone at every lease renewal
/// (orphaned wills, offline sessions to adopt). Asking that of every record
/// was work proportional to the number of sessions, under the node's lock,
/// every 2 s. Owners are few (nodes times their restarts), so the question
/// is asked once per run here, and only the records of runs that are gone
/// are visited.
struct RecordsByOwner: Sendable {
    /// A run of a node, as a record names it (`SessionRecord.ownerBoot`; nil
    /// in records written before boot ids).
    struct Run: Hashable, Sendable {
        var owner: String
        var boot: String?
    }

    /// Client ids by record key, per owning run.
    private(set) var keysByRun: [Run: [String: String]] = [:]
    private var runByKey: [String: Run] = [:]

    var count: Int { runByKey.count }

    /// Files the record under `key` (for `clientId`) under `run`, or takes it
    /// out with nil (deleted, or no longer of the kind kept here).
    mutating func set(_ key: String, clientId: String, run: Run?) {
        let old = runByKey[key]
        if let old, old != run {
            keysByRun[old]?.removeValue(forKey: key)
            if keysByRun[old]?.isEmpty == true { keysByRun.removeValue(forKey: old) }
        }
        guard let run else {
            runByKey.removeValue(forKey: key)
            return
        }
        runByKey[key] = run
        keysByRun[run, default: [:]][key] = clientId
    }

    /// Up to `limit` records of the runs `isGone` says are gone and `wanted`
    /// accepts, as (key, client id). Visits only the records of gone runs.
    func records(
        ofGoneRuns isGone: (Run) -> Bool, limit: Int = .max, where wanted: (_ key: String, _ clientId: String) -> Bool = { _, _ in true }
    ) -> [(key: String, clientId: String)] {
        var found: [(key: String, clientId: String)] = []
        guard limit > 0 else { return found }
        for (run, keys) in keysByRun where isGone(run) {
            for (key, clientId) in keys where wanted(key, clientId) {
                found.append((key, clientId))
                if found.count == limit { return found }
            }
        }
        return found
    }
}
