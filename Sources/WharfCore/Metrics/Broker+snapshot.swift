import WharfMQTT
import WharfMetrics

extension Broker {
    /// Builds a snapshot from the counters and the live state. Session locks
    /// are taken one at a time; nothing is held while the result is encoded.
    public func snapshot(
        counters: BrokerCounters, version: String, startTimeSeconds: Double, nowSeconds: Double,
        maxConnections: Int
    ) -> MetricsSnapshot {
        let nowNanos = Clock.nowNanos()
        let allSessions = sessions.withLock { Array($0.values) }
        var online = 0
        var queues: [QueueSnapshot] = []
        var clients: [ClientSnapshot] = []
        for session in allSessions {
            let (isOnline, queue, client) = session.statistics
            if isOnline { online += 1 }
            if let client {
                let totals = client.totals
                var snapshot = ClientSnapshot(
                    clientId: client.clientId, address: client.address, protocolVersion: client.protocolVersion,
                    persistent: session.isPersistent, connectedAtSeconds: client.connectedAtSeconds,
                    inflight: queue.inflight, queued: queue.depth, messagesReceivedTotal: totals.messagesIn,
                    messagesSentTotal: totals.messagesOut, bytesReceivedTotal: totals.bytesIn, bytesSentTotal: totals.bytesOut
                )
                if let listener = client.listener {
                    snapshot.listener = listener
                    snapshot.tls = client.tls
                }
                clients.append(snapshot)
            }
            guard session.isPersistent else { continue }
            let latency = session.latency
            queues.append(
                QueueSnapshot(
                    name: session.clientId, consumers: isOnline ? 1 : 0, depth: queue.depth, inflight: queue.inflight,
                    enqueuedTotal: queue.enqueuedTotal, deliveredTotal: queue.deliveredTotal,
                    acknowledgedTotal: queue.acknowledgedTotal, lagMessages: queue.lagMessages,
                    lagSeconds: queue.lagSeconds(now: nowNanos), oldestMessageAgeSeconds: queue.oldestMessageAgeSeconds(now: nowNanos),
                    deliverLatency: latency.deliver.snapshot(now: nowNanos),
                    acknowledgeLatency: latency.acknowledge.snapshot(now: nowNanos)
                ))
        }
        queues.sort { $0.name < $1.name }
        clients.sort { $0.clientId < $1.clientId }
        var snapshot = MetricsSnapshot(
            version: version, startTimeSeconds: startTimeSeconds, takenAtSeconds: nowSeconds,
            uptimeSeconds: max(0, nowSeconds - startTimeSeconds),
            connections: .init(
                current: counters.connectionsCurrent, maximum: maxConnections,
                acceptedTotal: counters.connectionsAccepted,
                rejectedTotal: Dictionary(
                    uniqueKeysWithValues: ConnectionRejectReason.allCases.map { ($0.rawValue, counters.rejections($0)) }),
                closedByServerTotal: Dictionary(
                    uniqueKeysWithValues: ConnectionCloseReason.allCases.map { ($0.rawValue, counters.serverCloses($0)) })
            ),
            sessions: .init(online: online, offline: allSessions.count - online),
            subscriptions: subscriptionCount,
            retainedMessages: retainedCount,
            traffic: .init(
                packetsReceivedTotal: Self.byPacketType(counters.packetsReceived),
                packetsSentTotal: Self.byPacketType(counters.packetsSent),
                bytesReceivedTotal: counters.bytesReceived, bytesSentTotal: counters.bytesSent,
                malformedPacketsTotal: counters.malformedPackets
            ),
            messages: .init(
                receivedTotal: counters.messagesReceived,
                deliveredTotal: counters.messagesDelivered,
                redeliveredTotal: counters.messagesRedelivered,
                droppedTotal: Dictionary(uniqueKeysWithValues: DropReason.allCases.map { ($0.rawValue, counters.drops($0)) }),
                payloadBytesReceivedTotal: counters.payloadBytesReceived,
                payloadBytesDeliveredTotal: counters.payloadBytesDelivered,
                deadLetteredTotal: counters.messagesDeadLettered,
                nackedTotal: counters.messagesNacked,
                deduplicatedTotal: counters.messagesDeduplicated,
                publisherPausesTotal: counters.publisherPauses, publisherThrottlesTotal: counters.publisherThrottles
            ),
            latency: .init(
                publishToDeliver: self.latency.snapshot(.publishToDeliver, now: nowNanos),
                publishToAcknowledge: self.latency.snapshot(.publishToAcknowledge, now: nowNanos)
            ),
            topics: topicStatistics.snapshot(),
            queues: queues,
            clients: clients,
            groups: allGroups.map { $0.snapshot(now: nowNanos) }.sorted { ($0.name, $0.filter) < ($1.name, $1.filter) },
            storage: journal.snapshot()
        )
        if accessPolicy != nil {
            snapshot.authorizationDeniedTotal = Dictionary(
                uniqueKeysWithValues: TopicAction.allCases.map { ($0.rawValue, counters.denials($0)) })
        }
        return snapshot
    }

    /// Every packet type a broker sends or receives in 3.1.1, by lower-case name.
    private static func byPacketType(_ count: (PacketType) -> Int) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: PacketType.allCases.filter { $0 != .auth }.map { ($0.description.lowercased(), count($0)) })
    }
}
