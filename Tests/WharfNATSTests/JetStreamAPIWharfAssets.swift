@testable import WharfNATS

/// The streams of cluster-design 5.2, as cluster mode will declare them
/// (R3, file storage). The experiment behind `ServerReplies` created each
/// from exactly the JSON that `encodesWharfsStreamsAsSentInTheExperiment`
/// pins down.
enum WharfAssets {
    static let sessionQueue = StreamConfig(
        name: "WHARF_Q_0", description: "persistent session inboxes", subjects: ["wq.s.>"], maxBytes: 4096,
        maxMessagesPerSubject: 3, discard: .new, discardNewPerSubject: true, replicas: 3, duplicateWindow: .seconds(120),
        allowDirect: true)
    static let nodeInbox = StreamConfig(name: "WHARF_N", subjects: ["wn.q.>"], maxAge: .seconds(120), replicas: 3)
    static let groupQueue = StreamConfig(
        name: "WHARF_G_default", subjects: ["wg.default.>"], retention: .workQueue, maxMessagesPerSubject: 1000, discard: .new,
        discardNewPerSubject: true, replicas: 3)
    static let sessionRecords = StreamConfig(
        name: "KV_wharf_sess", subjects: ["$KV.wharf_sess.>"], maxMessagesPerSubject: 1, discard: .new, replicas: 3,
        allowDirect: true, allowRollupHeaders: true, denyDelete: true)
    static let nodeLeases = StreamConfig(
        name: "KV_wharf_nodes", subjects: ["$KV.wharf_nodes.>"], maxAge: .seconds(10), maxMessagesPerSubject: 1, discard: .new,
        replicas: 3, allowDirect: true, allowRollupHeaders: true, denyDelete: true)
}
