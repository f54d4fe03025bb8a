import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Persistent sessions' queues in `WHARF_Q` (`SessionInbox`): appended to
/// by whichever node a message is published on, read by the node that
/// delivers the session, purged as the session acknowledges.
extension ClusterNode {
    /// Appends `message` to `clientId`'s queue, pipelined and retried
    /// through elections like a forward; the commit of `journal` (the
    /// publisher's PUBACK) waits for it. A full queue refuses the message:
    /// counted `queue_full` and not retried, and the publisher is still
    /// acknowledged, as a full offline queue on one node drops the newest.
    public func appendToInbox(_ message: Message, delivery: InboxDelivery, clientId: String, journal: any JournalWriter) {
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        gate?.add()
        statistics.withLock { $0.forwardsPending += 1 }
        let deadline = ContinuousClock.now + options.forwardDeadline
        store(
            SessionInbox.subject(for: clientId), ClusterEnvelope.encode(message), headers: SessionInbox.headers(delivery),
            messageId: newMessageId(), deadline: deadline,
            refusal: { [self] error in
                guard Self.isQueueFull(error) else { return false }
                state.withLock { $0.broker }?.metrics.messageDropped(.queueFull, count: 1)
                return true
            }
        ) { [self] ok in
            statistics.withLock { statistics in
                statistics.forwardsPending -= 1
                if !ok { statistics.forwardFailures += 1 }
            }
            gate?.finished(ok: ok)
        }
    }

    /// 10077 with the per-subject limit's text: the session's queue is at
    /// `max_queued_messages` (`discard_new_per_subject`). Other store
    /// failures share the code (a full disk, the stream's byte quota).
    static func isQueueFull(_ error: JetStreamError) -> Bool {
        guard let api = error.apiError, api.errorCode == .streamStoreFailed else { return false }
        return api.text.contains("maximum messages per subject exceeded")
    }

    /// Follows `clientId`'s queue from its oldest message (everything there
    /// is unacknowledged), then as messages arrive: `deliver` gets each with
    /// its stream sequence, on the connection's loop. An entry this node
    /// cannot read is counted (`bad_inbox_entry`) and skipped. The caller
    /// runs the reader and stops it when it stops delivering the session.
    func inboxReader(
        for clientId: String, deliver: @escaping @Sendable (_ sequence: UInt64, Message, InboxDelivery) -> Void
    ) -> JetStreamOrderedConsumer {
        JetStreamOrderedConsumer(
            jetStream: jetStream, stream: SessionInbox.stream, filter: SessionInbox.subject(for: clientId), start: .all,
            label: "queue of \(clientId)", heartbeat: .seconds(1), onProblem: { [self] problem in noteProblem(problem) }
        ) { [self] message, metadata in
            let journalId = state.withLock { $0.broker }?.newJournalId ?? { _, _ in 0 }
            guard let delivery = SessionInbox.delivery(in: message.headers),
                let decoded = ClusterEnvelope.decode(message.payload, journalId: journalId)
            else {
                statistics.withLock { $0.errors["bad_inbox_entry", default: 0] += 1 }
                return
            }
            deliver(metadata.streamSequence, decoded, delivery)
        }
    }

    /// Drops `clientId`'s queued messages below `sequence`: the ones it
    /// acknowledged (or that were dropped for it). Returns how many went.
    @discardableResult
    func purgeInbox(of clientId: String, below sequence: UInt64) async throws(JetStreamError) -> UInt64 {
        try await jetStream.purgeStream(
            SessionInbox.stream, StreamPurgeRequest(filter: SessionInbox.subject(for: clientId), sequence: sequence))
    }

    /// Messages in `clientId`'s queue now.
    func inboxDepth(of clientId: String) async throws(JetStreamError) -> UInt64 {
        let subject = SessionInbox.subject(for: clientId)
        let info = try await jetStream.streamInfo(SessionInbox.stream, subjectsFilter: subject)
        return info.state.subjects?[subject] ?? 0
    }
}
