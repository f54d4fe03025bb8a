import Foundation
import NIOCore
import WharfCore
import WharfNATS

/// Inbound QoS 2 exchanges a node routed in full but could not mark so in
/// their session's record (`ExchangeOutcomes` says how that happens and
/// why JetStream's duplicate table is not enough). A node that claims a
/// session whose record holds unmarked exchanges asks every node
/// (`wn.xq.<node>`, core NATS request/reply) before the client can send
/// them again, and marks the ones some node routed.
extension ClusterNode {
    struct ExchangeIdentity: Codable, Hashable, Sendable {
        var epoch: UInt64
        var serial: UInt64
    }

    struct ExchangeQuery: Codable, Equatable {
        var session: String
        var exchanges: [ExchangeIdentity]
    }

    struct ExchangeAnswer: Codable, Equatable {
        var session: String
        var routed: [ExchangeIdentity]
    }

    /// Answers exchange queries for as long as the node runs.
    func startExchangeService() throws {
        let subscription = try connection.subscribe(ClusterNames.exchangeQueries(to: options.nodeName)) { [self] message in
            exchangeQueried(message)
        }
        state.withLock { $0.exchangeService = subscription }
    }

    private func exchangeQueried(_ message: NATSMessage) {
        guard let reply = message.replyTo,
            let query = try? JSONDecoder().decode(ExchangeQuery.self, from: Data(message.payload.readableBytesView)),
            query.exchanges.count <= Self.maxExchangesAsked
        else { return }
        Task {
            let answer = ExchangeAnswer(session: query.session, routed: await routedHere(query.session, query.exchanges))
            guard let json = try? JSONEncoder().encode(answer) else { return }
            try? connection.publish(reply, payload: ByteBuffer(bytes: json))
        }
    }

    /// A record holds one exchange per packet id: 65,535 at most.
    static let maxExchangesAsked = Int(UInt16.max)

    /// Which of `exchanges` of `clientId` this node routed in full. One
    /// still being routed is waited for (its copies answer within the
    /// forward deadline), so the answer is final: a copy sent here after
    /// it could otherwise be stored as the asker routes it again.
    func routedHere(_ clientId: String, _ exchanges: [ExchangeIdentity]) async -> [ExchangeIdentity] {
        let keys = exchanges.map { InboundExchange(clientId: clientId, epoch: $0.epoch, serial: $0.serial).key }
        let end = ContinuousClock.now + options.forwardDeadline + .seconds(1)
        while true {
            let now = ContinuousClock.now
            let outcomes = exchangeOutcomes.withLock { table in keys.map { table.outcome(of: $0, now: now) } }
            if !outcomes.contains(.routing) || now >= end {
                return zip(exchanges, outcomes).compactMap { $1 == .routed ? $0 : nil }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Marks the exchanges of a record just claimed that a node routed in
    /// full without marking them (it lost the session in between). True if
    /// any was marked.
    func markExchangesRoutedElsewhere(_ record: inout SessionRecord, previousOwner: String?) async -> Bool {
        let routed = await exchangesRoutedInFull(record.clientId, of: record.received ?? [], previousOwner: previousOwner)
        guard !routed.isEmpty, var received = record.received else { return false }
        var marked = false
        for index in received.indices
        where !received[index].routed && routed.contains(ExchangeIdentity(epoch: received[index].epoch, serial: received[index].serial)) {
            received[index].routed = true
            marked = true
        }
        record.received = received
        if marked {
            logger.debug("exchanges routed by an earlier owner", metadata: ["client": "\(record.clientId)", "received": "\(received)"])
        }
        return marked
    }

    /// The record's exchanges not marked routed that this node or another
    /// routed in full. Every node is asked, not only the last owner: an
    /// exchange may be older than the last claim. A node that is gone
    /// answers "no responders" at once; one that does not answer within
    /// the forward deadline (and a margin) counts as knowing nothing.
    func exchangesRoutedInFull(_ clientId: String, of received: [SessionRecord.Received], previousOwner: String?) async
        -> Set<ExchangeIdentity>
    {
        let unmarked = received.filter { !$0.routed }.map { ExchangeIdentity(epoch: $0.epoch, serial: $0.serial) }
        guard !unmarked.isEmpty else { return [] }
        var others = Set(state.withLock { $0.nodes.keys })
        if let previousOwner { others.insert(previousOwner) }
        others.remove(options.nodeName)
        guard let json = try? JSONEncoder().encode(ExchangeQuery(session: clientId, exchanges: unmarked)) else { return [] }
        let timeout = options.forwardDeadline + .seconds(2)
        let routed = await withTaskGroup(of: [ExchangeIdentity].self) { group in
            group.addTask { await self.routedHere(clientId, unmarked) }
            for node in others {
                group.addTask {
                    guard
                        let message = try? await self.connection.request(
                            ClusterNames.exchangeQueries(to: node), payload: ByteBuffer(bytes: json), timeout: timeout),
                        let answer = try? JSONDecoder().decode(ExchangeAnswer.self, from: Data(message.payload.readableBytesView)),
                        answer.session == clientId
                    else { return [] }
                    return answer.routed
                }
            }
            var routed = Set<ExchangeIdentity>()
            for await some in group { routed.formUnion(some) }
            return routed
        }
        // Only what was asked about counts.
        return routed.intersection(unmarked)
    }
}
