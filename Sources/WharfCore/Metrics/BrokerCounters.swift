import Atomics
import WharfMQTT

/// The broker-wide counters behind `BrokerMetrics`.
///
/// Sharded by thread: each event loop adds to its own shard, so the hot path
/// never bounces a cache line between cores (one shared atomic per counter
/// cost a fifth of fan-in throughput on two cores). Reading sums the shards.
/// Adds are relaxed atomics, because two threads can still share a shard when
/// there are more threads than shards. Counters only grow; the connection
/// gauge is the one value that also goes down.
public final class BrokerCounters: BrokerMetrics {
    /// Where each counter sits in a shard.
    enum Slot {
        static let connectionsCurrent = 0
        static let connectionsAccepted = 1
        static let messagesReceived = 2
        static let messagesDelivered = 3
        static let messagesRedelivered = 4
        static let payloadBytesReceived = 5
        static let payloadBytesDelivered = 6
        static let malformedPackets = 7
        static let bytesIn = 8
        static let bytesOut = 9
        static let deadLettered = 10
        static let nacked = 11
        static let deduplicated = 12
        static let publisherPauses = 13
        static let publisherThrottles = 14
        /// Indexed by packet type raw value (0...15).
        static let packetsIn = 15
        static let packetsOut = packetsIn + 16
        static let rejected = packetsOut + 16
        static let closedByServer = rejected + ConnectionRejectReason.allCases.count
        static let dropped = closedByServer + ConnectionCloseReason.allCases.count
        static let denied = dropped + DropReason.allCases.count
        static let count = denied + TopicAction.allCases.count
    }

    /// One thread's counters: a single allocation, padded by a cache line on
    /// each side so no two shards share one.
    final class Shard: @unchecked Sendable {
        private static let padding = 8  // 8 x 8 bytes
        private let storage: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>

        init() {
            let total = Slot.count + 2 * Self.padding
            storage = .allocate(capacity: total)
            storage.initialize(repeating: UnsafeAtomic<Int>.Storage(0), count: total)
        }

        deinit {
            storage.deinitialize(count: Slot.count + 2 * Self.padding)
            storage.deallocate()
        }

        @inline(__always)
        func add(_ slot: Int, _ amount: Int = 1) {
            UnsafeAtomic<Int>(at: storage + Self.padding + slot).wrappingIncrement(by: amount, ordering: .relaxed)
        }

        @inline(__always)
        func value(_ slot: Int) -> Int {
            UnsafeAtomic<Int>(at: storage + Self.padding + slot).load(ordering: .relaxed)
        }
    }

    private let shards: [Shard]

    public init(shardCount: Int = 16) {
        shards = (0..<max(1, shardCount)).map { _ in Shard() }
    }

    @inline(__always)
    private var shard: Shard { shards[ThreadIndex.current % shards.count] }

    private func sum(_ slot: Int) -> Int {
        shards.reduce(0) { $0 &+ $1.value(slot) }
    }

    // MARK: Recording (hot path)

    public func connectionOpened() {
        let shard = self.shard
        shard.add(Slot.connectionsCurrent)
        shard.add(Slot.connectionsAccepted)
    }

    public func connectionClosed() {
        shard.add(Slot.connectionsCurrent, -1)
    }

    public func connectionRejected(_ reason: ConnectionRejectReason) {
        shard.add(Slot.rejected + ConnectionRejectReason.allCases.firstIndex(of: reason)!)
    }

    public func connectionClosedByServer(_ reason: ConnectionCloseReason) {
        shard.add(Slot.closedByServer + ConnectionCloseReason.allCases.firstIndex(of: reason)!)
    }

    public func messageReceived(qos: QoS, payloadBytes: Int) {
        let shard = self.shard
        shard.add(Slot.messagesReceived)
        shard.add(Slot.payloadBytesReceived, payloadBytes)
    }

    public func messageDropped(_ reason: DropReason, count: Int) {
        shard.add(Slot.dropped + DropReason.allCases.firstIndex(of: reason)!, count)
    }

    public func messageDeadLettered() {
        shard.add(Slot.deadLettered)
    }

    public func messageNacked() {
        shard.add(Slot.nacked)
    }

    public func messageDeduplicated() {
        shard.add(Slot.deduplicated)
    }

    public func publisherPaused() {
        shard.add(Slot.publisherPauses)
    }

    public func publisherThrottled() {
        shard.add(Slot.publisherThrottles)
    }

    public func authorizationDenied(_ action: TopicAction) {
        shard.add(Slot.denied + TopicAction.allCases.firstIndex(of: action)!)
    }

    public func malformedPacket(_ error: MQTTDecodeError) {
        shard.add(Slot.malformedPackets)
    }

    public func record(_ batch: TrafficBatch) {
        let shard = self.shard
        batch.packetsIn.forEachNonZero { type, count in shard.add(Slot.packetsIn + type, count) }
        batch.packetsOut.forEachNonZero { type, count in shard.add(Slot.packetsOut + type, count) }
        if batch.bytesIn != 0 { shard.add(Slot.bytesIn, batch.bytesIn) }
        if batch.bytesOut != 0 { shard.add(Slot.bytesOut, batch.bytesOut) }
        if batch.messagesIn != 0 {
            shard.add(Slot.messagesReceived, batch.messagesIn)
            shard.add(Slot.payloadBytesReceived, batch.payloadBytesIn)
        }
        if batch.messagesOut != 0 {
            shard.add(Slot.messagesDelivered, batch.messagesOut)
            shard.add(Slot.payloadBytesDelivered, batch.payloadBytesOut)
        }
        if batch.redelivered != 0 { shard.add(Slot.messagesRedelivered, batch.redelivered) }
    }

    // MARK: Reading (sums over shards)

    public var connectionsCurrent: Int { sum(Slot.connectionsCurrent) }
    public var connectionsAccepted: Int { sum(Slot.connectionsAccepted) }
    public var messagesReceived: Int { sum(Slot.messagesReceived) }
    public var messagesDelivered: Int { sum(Slot.messagesDelivered) }
    public var messagesRedelivered: Int { sum(Slot.messagesRedelivered) }
    public var payloadBytesReceived: Int { sum(Slot.payloadBytesReceived) }
    public var payloadBytesDelivered: Int { sum(Slot.payloadBytesDelivered) }
    public var malformedPackets: Int { sum(Slot.malformedPackets) }
    public var messagesDeadLettered: Int { sum(Slot.deadLettered) }
    public var messagesNacked: Int { sum(Slot.nacked) }
    public var messagesDeduplicated: Int { sum(Slot.deduplicated) }
    public var publisherPauses: Int { sum(Slot.publisherPauses) }
    public var publisherThrottles: Int { sum(Slot.publisherThrottles) }
    public func denials(_ action: TopicAction) -> Int { sum(Slot.denied + TopicAction.allCases.firstIndex(of: action)!) }
    public var bytesReceived: Int { sum(Slot.bytesIn) }
    public var bytesSent: Int { sum(Slot.bytesOut) }

    public func rejections(_ reason: ConnectionRejectReason) -> Int {
        sum(Slot.rejected + ConnectionRejectReason.allCases.firstIndex(of: reason)!)
    }

    public func serverCloses(_ reason: ConnectionCloseReason) -> Int {
        sum(Slot.closedByServer + ConnectionCloseReason.allCases.firstIndex(of: reason)!)
    }

    public func drops(_ reason: DropReason) -> Int {
        sum(Slot.dropped + DropReason.allCases.firstIndex(of: reason)!)
    }

    public func packetsReceived(_ type: PacketType) -> Int { sum(Slot.packetsIn + Int(type.rawValue)) }
    public func packetsSent(_ type: PacketType) -> Int { sum(Slot.packetsOut + Int(type.rawValue)) }
}
