import Foundation
import NIOCore
import WharfCore
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

    /// Listens for release requests for as long as the node runs (the
    /// connection subscribes again after a reconnect).
    func startReleaseService() throws {
        let subscription = try connection.subscribe(ClusterNames.control(to: options.nodeName)) { [self] message in
            releaseRequested(message)
        }
        state.withLock { $0.releaseService = subscription }
    }

    /// A connect elsewhere claimed `epoch` of a session: a connection of an
    /// older epoch here closes first, a copy of the session kept here goes
    /// (the record is another node's now), then the answer.
    private func releaseRequested(_ message: NATSMessage) {
        guard let reply = message.replyTo,
            let request = try? JSONDecoder().decode(ReleaseRequest.self, from: Data(message.payload.readableBytesView))
        else { return }
        let session = request.session
        let answer: @Sendable () -> Void = { [self] in answerRelease(request, to: reply, forget: true) }
        enum Step {
            case close(ClusterSessionRelease)
            case answerLater
            case answer(forget: Bool)
        }
        let step = state.withLock { state -> Step in
            let closing = state.takeover.releaseRequested(session, epoch: request.epoch)
            guard let mine = state.claimed[session] else { return .answer(forget: true) }
            // A newer claim of our own: the session is ours (the asker's
            // own connect is released by it), nothing here is dropped.
            guard mine.epoch < request.epoch else { return .answer(forget: false) }
            state.claimed[session] = nil
            guard closing == mine.epoch else { return .answer(forget: true) }
            if let release = mine.release { return .close(release) }
            // Claimed and fenced, but the connection is not open yet: it
            // closes as it opens, and the answer waits for that.
            var pending = mine
            pending.releaseDue = answer
            state.claimed[session] = pending
            return .answerLater
        }
        switch step {
        case .close(let release): release(.takenOver, answer)
        case .answerLater: break
        case .answer(let forget): answerRelease(request, to: reply, forget: forget)
        }
    }

    /// Says that nothing older than the request's epoch is delivered here;
    /// `forget`: the copy of the session kept here goes first.
    private func answerRelease(_ request: ReleaseRequest, to reply: String, forget: Bool) {
        if forget, let broker = state.withLock({ $0.broker }) {
            state.withLock { _ = $0.adopted.remove(request.session) }
            broker.forgetSession(request.session)
        }
        wakeFence(request.session)
        let answer = ReleaseAnswer(session: request.session, epoch: request.epoch, node: options.nodeName)
        guard let json = try? JSONEncoder().encode(answer) else { return }
        try? connection.publish(reply, payload: ByteBuffer(bytes: json))
    }

    /// Runs `claim`'s fence for `session` after its record was written:
    /// true once the claimed epoch may be delivered here; false if a later
    /// connect released it first or `deadline` passed (the record stays,
    /// and names the nodes still unreleased for whoever connects next).
    public func fence(session: String, claim: SessionClaim, deadline: Duration = .seconds(10)) async -> Bool {
        let epoch = claim.record.epoch
        state.withLock { state in
            // An older connection of the session here stops being this
            // node's to release: the broker closes it as the new connection
            // opens the same session (a takeover on one node).
            if state.takeover.claimed(session, claim) != nil { state.claimed[session]?.release = nil }
        }
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
                    return leaseAge(lease, state, now: now) >= options.lease
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

    func askToRelease(_ node: String, _ request: ReleaseRequest) {
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
