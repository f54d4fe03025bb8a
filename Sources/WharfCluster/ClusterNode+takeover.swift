import Foundation
import NIOCore
import WharfNATS

/// The takeover's messages (docs/cluster.md, "Session takeover"): release
/// requests to `wn.ctl.<node>` over core NATS, answered once nothing older
/// is delivered here; and a connect's fence, which asks every node its
/// claim names, again each second, until each has answered or its lease
/// has lapsed. The decisions are `TakeoverTable`'s.
extension ClusterNode {
    struct ReleaseRequest: Codable, Equatable {
        var session: String
        var epoch: UInt64
    }

    struct ReleaseAnswer: Codable, Equatable {
        var session: String
        var epoch: UInt64
        var node: String
    }

    /// `close(session, epoch)` stops delivering that connection of the
    /// session (and closes it) before it returns: the answer that nothing
    /// older is delivered here goes right after.
    public func onRelease(_ close: @escaping @Sendable (_ session: String, _ epoch: UInt64) -> Void) {
        state.withLock { $0.releaseHandler = close }
    }

    /// Listens for release requests for as long as the node runs (the
    /// connection subscribes again after a reconnect).
    func startReleaseService() throws {
        let subscription = try connection.subscribe(ClusterNames.control(to: options.nodeName)) { [self] message in
            releaseRequested(message)
        }
        state.withLock { $0.releaseService = subscription }
    }

    private func releaseRequested(_ message: NATSMessage) {
        guard let reply = message.replyTo,
            let request = try? JSONDecoder().decode(ReleaseRequest.self, from: Data(message.payload.readableBytesView))
        else { return }
        let (closing, handler) = state.withLock { state in
            let closing = state.takeover.releaseRequested(request.session, epoch: request.epoch)
            return (closing, state.releaseHandler)
        }
        if let closing { handler?(request.session, closing) }
        wakeFence(request.session)
        let answer = ReleaseAnswer(session: request.session, epoch: request.epoch, node: options.nodeName)
        guard let json = try? JSONEncoder().encode(answer) else { return }
        try? connection.publish(reply, payload: ByteBuffer(bytes: json))
    }

    /// The connection of `session` at `epoch` ended here (a disconnect).
    public func sessionEnded(_ session: String, epoch: UInt64) {
        state.withLock { $0.takeover.ended(session, epoch: epoch) }
    }

    /// Runs `claim`'s fence for `session` after its record was written:
    /// true once the claimed epoch may be delivered here; false if a later
    /// connect released it first or `deadline` passed (the record stays,
    /// and names the nodes still unreleased for whoever connects next).
    public func fence(session: String, claim: SessionClaim, deadline: Duration = .seconds(10)) async -> Bool {
        let epoch = claim.record.epoch
        let (closing, handler) = state.withLock { state in (state.takeover.claimed(session, claim), state.releaseHandler) }
        if let closing { handler?(session, closing) }
        let started = ContinuousClock.now
        let end = started + deadline
        var lastAsked: [String: ContinuousClock.Instant] = [:]
        while true {
            let now = ContinuousClock.now
            let (outcome, waiting) = state.withLock { state in
                // Lapsed: its lease is older than a lease, or withdrawn. A
                // node whose lease this node has not seen yet (it may have
                // just started) counts only after a whole lease of waiting.
                let lapsed = state.takeover.waitingFor(session, epoch: epoch).filter { node in
                    if state.withdrawn.contains(node) { return true }
                    guard let lease = state.nodes[node] else { return now - started >= options.lease }
                    return now - lease.seenAt >= options.lease
                }
                state.takeover.lapsed(lapsed)
                return (state.takeover.outcome(session, epoch: epoch), state.takeover.waitingFor(session, epoch: epoch))
            }
            if let outcome { return outcome }
            if now >= end {
                state.withLock { $0.takeover.gaveUp(session, epoch: epoch) }
                return false
            }
            // Asked again each second: a request is lost if its node was
            // cut off for a moment, and an answer may never come.
            for node in waiting where lastAsked[node].map({ now - $0 >= .seconds(1) }) ?? true {
                lastAsked[node] = now
                askToRelease(node, ReleaseRequest(session: session, epoch: epoch))
            }
            // Woken by an answer or a release of this wait; else in 250 ms,
            // to see lapsed leases and ask again.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                state.withLock { $0.fenceWakers[session, default: []].append(continuation) }
                connection.eventLoop.scheduleTask(in: .milliseconds(250)) { [self] in wakeFence(session) }
            }
        }
    }

    private func askToRelease(_ node: String, _ request: ReleaseRequest) {
        guard let json = try? JSONEncoder().encode(request) else { return }
        connection.request(ClusterNames.control(to: node), payload: ByteBuffer(bytes: json), timeout: .seconds(1)) {
            [self] result in
            guard case .success(let message) = result,
                let answer = try? JSONDecoder().decode(ReleaseAnswer.self, from: Data(message.payload.readableBytesView)),
                answer.session == request.session, answer.epoch == request.epoch, answer.node == node
            else { return }
            state.withLock { $0.takeover.released(answer.session, by: answer.node, epoch: answer.epoch) }
            wakeFence(answer.session)
        }
    }

    private func wakeFence(_ session: String) {
        let wakers = state.withLock { $0.fenceWakers.removeValue(forKey: session) } ?? []
        for waker in wakers { waker.resume() }
    }
}
