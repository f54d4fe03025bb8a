import NIOCore
import WharfCore
import WharfMQTT
import WharfNATS

/// Consumer groups as replicated queues (`GroupQueue`): the publishing node
/// appends one copy per group; every node with members pulls what its
/// members have room for (`GroupPuller`). A node with members announces
/// the group in the route index under its text, `$share/<group>/<filter>`,
/// so every node routes the group's messages to its queue while any live
/// node has members.
extension ClusterNode {
    public func append(
        _ message: Message, to group: RemoteGroup, exchange: InboundExchange?, journal: any JournalWriter
    ) -> EnqueueResult.Outcome {
        let gate = (journal as? ClusterJournalWriter)?.batchGate()
        let pending = PendingGroupAppend(
            group: group, payload: ClusterEnvelope.encode(message),
            messageId: exchange.map { ClusterNames.exchangeMessageId($0, to: "g." + group.address) } ?? newMessageId(),
            canWait: message.qos != .atMostOnce, maxLength: message.maxQueueLength, dropOldest: message.overflow == .dropOldest,
            deadline: ContinuousClock.now + options.forwardDeadline, gate: gate)
        gate?.add()
        return admit(pending)
    }

    /// A publish on its way into a group's queue in the cluster.
    struct PendingGroupAppend: Sendable {
        let group: RemoteGroup
        let payload: ByteBuffer
        let messageId: String
        let canWait: Bool
        let maxLength: Int?
        let dropOldest: Bool
        let deadline: ContinuousClock.Instant
        let gate: ClusterCommitGate?
    }

    /// Appends `pending` to its group's queue if the group's bound and the
    /// message's policy let it (`GroupAdmission`), and says how (the
    /// publisher's PUBACK code follows it). A policy's `max_length` counts
    /// what waits for a member: `reject-new` refuses the newest (0x97 to a
    /// 5.0 publisher), `drop-oldest` deletes the oldest waiting entry. Past
    /// the bound, a QoS 1 or 2 publisher waits while members anywhere work
    /// through the queue (its acknowledgement does, so its window fills),
    /// as a publisher into a full group with members online does on one
    /// node; with nobody working, at QoS 0, or past the deadline, the
    /// newest is dropped and counted `queue_full`.
    @discardableResult
    func admit(_ pending: PendingGroupAppend, attempt: Int = 1) -> EnqueueResult.Outcome {
        let group = pending.group
        let now = ContinuousClock.now
        let (decision, ask) = statistics.withLock {
            $0.groupAdmissions[group.address, default: GroupAdmission()].admit(
                limit: options.maxQueuedPerGroup, maxLength: pending.maxLength, dropOldest: pending.dropOldest, now: now)
        }
        if ask { askHowFull(group) }
        let pause = Duration.milliseconds(min(250, 25 * attempt))
        switch decision {
        case .admit, .admitDroppingOldest:
            if decision == .admitDroppingOldest {
                dropOldestWaiting(in: group)
                // The broker counts what the first decision says; a later one is counted here.
                if attempt > 1 { state.withLock { $0.broker }?.metrics.messageDropped(.maxLength, count: 1) }
            }
            appendQueued(group.address, pending.payload, messageId: pending.messageId, gate: pending.gate) { [self] sequence in
                statistics.withLock { $0.groupAdmissions[group.address]?.finished(sequence: sequence) }
            }
            return decision == .admit ? .accepted : .acceptedDroppedOldest
        case .overLength:
            if attempt > 1 { state.withLock { $0.broker }?.metrics.messageDropped(.maxLength, count: 1) }
            pending.gate?.finished(ok: true)
            return .droppedMaxLength
        case .fullAndServed where pending.canWait && now + pause < pending.deadline && !isStopped:
            connection.eventLoop.scheduleTask(in: .nanoseconds(pause.nanosecondsValue)) {
                self.admit(pending, attempt: attempt + 1)
            }
            return .accepted
        case .fullAndServed, .full:
            state.withLock { $0.broker }?.metrics.messageDropped(.queueFull, count: 1)
            pending.gate?.finished(ok: true)
            return .accepted
        }
    }

    /// A policy's `drop-oldest` made room in `group`'s queue: its oldest
    /// entry not yet given to a member goes (counted `max_length` by the
    /// broker). One the consumer hands out meanwhile is delivered anyway.
    /// One task per group deletes what is owed, one after another: two
    /// deletes asked at once would both find the same oldest entry.
    private func dropOldestWaiting(in group: RemoteGroup) {
        let starts = statistics.withLock { statistics in
            let running = statistics.groupDropsOwed[group.address] != nil
            statistics.groupDropsOwed[group.address, default: 0] += 1
            return !running
        }
        guard starts else { return }
        Task {
            var deleted: UInt64 = 0
            while takeOwedDrop(in: group) {
                do throws(JetStreamError) {
                    let consumer = try await jetStream.consumerInfo(
                        GroupQueue.stream, GroupQueue.consumer(name: group.name, filter: group.filter))
                    let from = max(consumer.delivered.streamSequence, deleted) + 1
                    guard let oldest = try await jetStream.getMessage(GroupQueue.stream, .next(subject: group.address, from: from))
                    else { continue }
                    _ = try await jetStream.deleteMessage(GroupQueue.stream, sequence: oldest.sequence)
                    deleted = oldest.sequence
                } catch {
                    count(error: error)
                }
            }
        }
    }

    /// Takes one owed `drop-oldest` delete for `group`, or ends its task.
    private func takeOwedDrop(in group: RemoteGroup) -> Bool {
        statistics.withLock { statistics in
            guard let owed = statistics.groupDropsOwed[group.address], owed > 0 else {
                statistics.groupDropsOwed[group.address] = nil
                return false
            }
            statistics.groupDropsOwed[group.address] = owed - 1
            return true
        }
    }

    /// Asks the stream how much `group`'s queue holds, as of which
    /// sequence, and its consumer whether members work through it (no
    /// consumer: nobody does), for `admit`.
    private func askHowFull(_ group: RemoteGroup) {
        Task {
            var answer: (stored: Int, outstanding: Int, lastSequence: UInt64, served: Bool)?
            if let stream = try? await jetStream.streamInfo(GroupQueue.stream, subjectsFilter: group.address) {
                let consumer = try? await jetStream.consumerInfo(
                    GroupQueue.stream, GroupQueue.consumer(name: group.name, filter: group.filter))
                answer = (
                    Int(clamping: stream.state.subjects?[group.address] ?? 0), consumer?.numAckPending ?? 0,
                    stream.state.lastSequence, consumer.map { $0.numWaiting > 0 || $0.numAckPending > 0 } ?? false
                )
            }
            statistics.withLock { $0.groupAdmissions[group.address]?.answered(answer) }
        }
    }

    public func groupOpened(_ group: ConsumerGroup) {
        let puller = GroupPuller(
            group: group, connection: connection, ackWait: options.groupAckWait, logger: logger,
            onProblem: { [self] problem in noteProblem(problem) },
            isReleasedToASession: { [weak self] sequence in await self?.isGroupEntryReleasedToASession(sequence) })
        group.attach(puller)
        let share = GroupQueue.shareText(name: group.name, filter: group.filter)
        state.withLock { $0.groupPullers[share] = puller }
        setGroupRoute(share, node: options.nodeName, present: true)
        localInterestChanged(share, maxQoS: .exactlyOnce, journal: nil)
        // Tells the puller how much room the members have (none yet: the
        // first joins after this returns, and says so).
        group.dispatch()
        Task { await startPulling(puller) }
    }

    public func groupClosed(_ group: ConsumerGroup) {
        let share = GroupQueue.shareText(name: group.name, filter: group.filter)
        let puller = state.withLock { state -> GroupPuller? in
            guard let puller = state.groupPullers[share], puller.group === group else { return nil }
            return state.groupPullers.removeValue(forKey: share)
        }
        puller?.close()
        setGroupRoute(share, node: options.nodeName, present: false)
        localInterestChanged(share, maxQoS: nil, journal: nil)
    }

    /// Finds (or makes) the group's durable consumer, then pulls from it;
    /// retried every second while NATS or the streams are not there yet.
    private func startPulling(_ puller: GroupPuller) async {
        let group = puller.group
        let config = GroupQueue.consumerConfig(name: group.name, filter: group.filter, ackWait: options.groupAckWait)
        while !isStopped, isCurrent(puller) {
            if state.withLock({ $0.buckets != nil }) {
                do throws(JetStreamError) {
                    // Looked up first, made only when missing: two nodes
                    // making one consumer at once on nats-server 2.9.10 can
                    // leave one node's first pulls with a consumer that no
                    // longer gets messages (they expire after 5 s, below).
                    do {
                        _ = try await jetStream.consumerInfo(GroupQueue.stream, puller.consumer)
                    } catch .api(let error) where error.errorCode == .consumerNotFound {
                        do {
                            _ = try await jetStream.createConsumer(GroupQueue.stream, config)
                        } catch .api(let error)
                            where error.errorCode == .consumerAlreadyExists || error.errorCode == .consumerNameExists
                        {
                            // Made meanwhile, perhaps with another ack wait: used as it is.
                        }
                    }
                    await waitForLeader(of: puller.consumer)
                    let broker = state.withLock { $0.broker }
                    let pull = JetStreamPullConsumer(
                        jetStream: jetStream, stream: GroupQueue.stream, consumer: puller.consumer,
                        // A pull the server dropped unanswered (one sent as the
                        // consumer's leader is still being elected) shows as
                        // silence: with 1 s heartbeats it is made again within
                        // 2.5 s; one held by a consumer that gets nothing, by
                        // its expiry.
                        options: .init(batch: 256, expires: GroupPuller.pullExpiry, idleHeartbeat: .seconds(1)), credit: puller.room,
                        onProblem: { [self] problem in noteProblem(problem) }
                    ) { [weak puller] message, metadata in
                        puller?.received(message, metadata) { bytes in
                            ClusterEnvelope.decode(bytes).map { broker?.applyingPolicy($0) ?? $0 }
                        }
                    }
                    if !puller.start(pull) { pull.stop() }
                    return
                } catch {
                    count(error: error)
                    noteProblem("group \(group.name): cannot open its queue: \(error)")
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Until a new consumer has a leader (at most 5 s): a pull sent before
    /// that reaches nobody and is lost without an answer, so the group's
    /// first messages would all go to nodes that pulled later.
    private func waitForLeader(of consumer: String) async {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if let info = try? await jetStream.consumerInfo(GroupQueue.stream, consumer), info.cluster?.leader != nil { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func isCurrent(_ puller: GroupPuller) -> Bool {
        let share = GroupQueue.shareText(name: puller.group.name, filter: puller.group.filter)
        return state.withLock { $0.groupPullers[share] === puller }
    }

    /// `node` has members of the group `share` now, or none any more: the
    /// group's queue enters the broker's tree with its first holder (a live
    /// node with members or a session record subscribed to it) and leaves
    /// with the last. Under the table's lock, so changes reach the tree in
    /// the order they were worked out.
    func setGroupRoute(_ share: String, node: String, present: Bool) {
        setGroupRoute(share, holder: .node(node), present: present)
    }

    func setGroupRoute(_ share: String, holder: GroupRouteTable.Holder, present: Bool) {
        let broker = state.withLock { $0.broker }
        groupRoutes.withLock { table in
            switch table.set(share, holder: holder, present: present) {
            case .add(let group)?: broker?.addGroupRoute(group)
            case .remove(let group)?:
                broker?.removeGroupRoute(group)
                statistics.withLock { _ = $0.groupAdmissions.removeValue(forKey: group.address) }
            case nil: break
            }
        }
    }

    /// The groups with members here whose backlog this node reports (the
    /// first by name of the nodes with members whose lease is live) get it from their
    /// queue's consumer: stored and not acknowledged, with the publish time
    /// of the oldest such message; the others' is cleared. On the backlog
    /// timer, with `refreshOfflineBacklogs`.
    func refreshGroupBacklogs() {
        let pullers = state.withLock { Array($0.groupPullers.prefix(1_000)) }
        guard !pullers.isEmpty else { return }
        let started = statistics.withLock { statistics in
            guard !statistics.refreshingGroupBacklogs else { return false }
            statistics.refreshingGroupBacklogs = true
            return true
        }
        guard started else { return }
        // Live by lease, not by route: a dead node's routes stay until the
        // janitor's grace (see `renewLease`), and it reports nothing.
        let live = Set(liveNodes.map(\.name))
        let reported = groupRoutes.withLock { table in
            pullers.map { share, puller in (puller, table.nodes(of: share).first(where: live.contains) == options.nodeName) }
        }
        Task {
            defer { statistics.withLock { $0.refreshingGroupBacklogs = false } }
            for (puller, reports) in reported {
                guard reports else {
                    puller.group.setClusterBacklog(nil)
                    continue
                }
                let info: ConsumerInfo
                do {
                    info = try await jetStream.consumerInfo(GroupQueue.stream, puller.consumer)
                } catch {
                    count(error: error)
                    continue
                }
                let count = Int(clamping: info.numPending) + info.numAckPending
                var oldest: UInt64?
                if count > 0 {
                    let subject = GroupQueue.subject(name: puller.group.name, filter: puller.group.filter)
                    if let first = try? await jetStream.getMessage(
                        GroupQueue.stream, .next(subject: subject, from: info.ackFloor.streamSequence + 1))
                    {
                        oldest = ClusterEnvelope.decode(ByteBuffer(bytes: first.data))?.publishedAtNanos
                    }
                }
                puller.group.setClusterBacklog((count, oldest))
            }
        }
    }

    /// Whether a route's filter is a consumer group's text.
    static func isGroupRoute(_ filter: String) -> Bool { filter.hasPrefix("$share/") }
}
