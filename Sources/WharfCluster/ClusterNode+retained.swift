import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Retained messages: the cluster's store is `wharf_retained`; every node
/// keeps its broker's store in step with it, so a SUBSCRIBE anywhere is
/// served from memory.
extension ClusterNode {
    public func retained(_ message: Message, journal: any JournalWriter) {
        guard let bucket = state.withLock({ $0.buckets?.retained }) else {
            noteProblem("retained message on \(message.topic) not stored in the cluster: not connected yet")
            return
        }
        let key = ClusterNames.key(for: message.topic)
        let clearing = message.payload.readableBytes == 0
        // A QoS 1/2 publisher's acknowledgement waits for it; QoS 0 has none.
        let gate = message.qos == .atMostOnce ? nil : (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        let value = clearing ? ByteBuffer() : ClusterEnvelope.encode(message)
        storeEntry(bucket, key: key, value, delete: clearing) { [self] ok in
            if !ok { noteProblem("retained message on \(message.topic) not stored in the cluster") }
            gate?.finished(ok: ok)
        }
    }

    func followRetained(_ bucket: KeyValueBucket) -> KeyValueWatcher {
        KeyValueWatcher(
            bucket: bucket, onCaughtUp: { [self] in state.withLock { $0.readiness.retainedLoaded = true } },
            onProblem: { [self] in noteProblem($0) }
        ) { [self] entry in retainedChanged(entry) }
    }

    /// Every node applies every change in the bucket's order, its own
    /// included: a node's store may run ahead of the bucket for a moment
    /// (its publisher's write is applied at once), never behind it for good.
    private func retainedChanged(_ entry: KeyValueEntry) {
        guard let broker = state.withLock({ $0.broker }) else { return }
        if entry.operation == .put, let message = ClusterEnvelope.decode(entry.value) {
            state.withLock {
                $0.retainedEntries[entry.key] = RetainedEntry(
                    topic: message.topic, revision: entry.revision, expiresAt: message.expiresAtNanos)
            }
            broker.applyClusterRetained(message)
            return
        }
        guard entry.operation != .put, let gone = state.withLock({ $0.retainedEntries.removeValue(forKey: entry.key) }) else {
            if entry.operation == .put { statistics.withLock { $0.errors["bad_envelope", default: 0] += 1 } }
            return
        }
        broker.applyClusterRetained(Message(topic: gone.topic, payload: ByteBuffer(), qos: .atMostOnce, retain: true))
    }

    /// The janitor's round (one node does it: the first live one by name):
    /// expired retained messages leave the bucket, each with a
    /// compare-and-swap on the revision it saw, so a newer message
    /// published meanwhile stays. Every node already ignores expired ones;
    /// this keeps the bucket from growing with them.
    func purgeExpiredRetained() {
        guard liveNodes.map(\.name).min() == options.nodeName else { return }
        let now = Clock.nowNanos()
        let (expired, bucket) = state.withLock { state -> ([(String, UInt64)], KeyValueBucket?) in
            let expired = state.retainedEntries.compactMap { key, entry in
                entry.expiresAt.map { $0 <= now } == true ? (key, entry.revision) : nil
            }
            return (expired, state.buckets?.retained)
        }
        guard let bucket, !expired.isEmpty else { return }
        for (key, revision) in expired.prefix(1_000) {
            bucket.write(key, ByteBuffer(), delete: true, lastRevision: revision) { _ in }
        }
    }
}
