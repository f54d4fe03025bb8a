import Atomics
import WharfMQTT

/// Lock-free counters behind `BrokerMetrics`: relaxed atomic adds on the hot
/// path, read whenever someone asks. Counters only grow.
public final class BrokerCounters: BrokerMetrics {
    public let connectionsCurrent = ManagedAtomic<Int>(0)
    public let connectionsAccepted = ManagedAtomic<Int>(0)
    public let messagesReceived = ManagedAtomic<Int>(0)
    public let messagesDelivered = ManagedAtomic<Int>(0)
    public let messagesRedelivered = ManagedAtomic<Int>(0)
    public let payloadBytesReceived = ManagedAtomic<Int>(0)
    public let payloadBytesDelivered = ManagedAtomic<Int>(0)
    public let malformedPackets = ManagedAtomic<Int>(0)

    private let rejected: [ManagedAtomic<Int>]
    private let closedByServer: [ManagedAtomic<Int>]
    private let dropped: [ManagedAtomic<Int>]
    /// Indexed by packet type raw value (1...15).
    private let packetsIn = (0..<16).map { _ in ManagedAtomic<Int>(0) }
    private let packetsOut = (0..<16).map { _ in ManagedAtomic<Int>(0) }
    private let bytesIn = ManagedAtomic<Int>(0)
    private let bytesOut = ManagedAtomic<Int>(0)

    public init() {
        rejected = ConnectionRejectReason.allCases.map { _ in ManagedAtomic<Int>(0) }
        closedByServer = ConnectionCloseReason.allCases.map { _ in ManagedAtomic<Int>(0) }
        dropped = DropReason.allCases.map { _ in ManagedAtomic<Int>(0) }
    }

    public func connectionOpened() {
        connectionsCurrent.wrappingIncrement(ordering: .relaxed)
        connectionsAccepted.wrappingIncrement(ordering: .relaxed)
    }

    public func connectionClosed() {
        connectionsCurrent.wrappingDecrement(ordering: .relaxed)
    }

    public func connectionRejected(_ reason: ConnectionRejectReason) {
        rejected[ConnectionRejectReason.allCases.firstIndex(of: reason)!].wrappingIncrement(ordering: .relaxed)
    }

    public func connectionClosedByServer(_ reason: ConnectionCloseReason) {
        closedByServer[ConnectionCloseReason.allCases.firstIndex(of: reason)!].wrappingIncrement(ordering: .relaxed)
    }

    public func packetReceived(_ type: PacketType, bytes: Int) {
        packetsIn[Int(type.rawValue)].wrappingIncrement(ordering: .relaxed)
        bytesIn.wrappingIncrement(by: bytes, ordering: .relaxed)
    }

    public func packetSent(_ type: PacketType, bytes: Int) {
        packetsOut[Int(type.rawValue)].wrappingIncrement(ordering: .relaxed)
        bytesOut.wrappingIncrement(by: bytes, ordering: .relaxed)
    }

    public func messageReceived(qos: QoS, payloadBytes: Int) {
        messagesReceived.wrappingIncrement(ordering: .relaxed)
        payloadBytesReceived.wrappingIncrement(by: payloadBytes, ordering: .relaxed)
    }

    public func messageDelivered(qos: QoS, payloadBytes: Int) {
        messagesDelivered.wrappingIncrement(ordering: .relaxed)
        payloadBytesDelivered.wrappingIncrement(by: payloadBytes, ordering: .relaxed)
    }

    public func messageDropped(_ reason: DropReason, count: Int) {
        dropped[DropReason.allCases.firstIndex(of: reason)!].wrappingIncrement(by: count, ordering: .relaxed)
    }

    public func messageRedelivered() {
        messagesRedelivered.wrappingIncrement(ordering: .relaxed)
    }

    public func malformedPacket(_ error: MQTTDecodeError) {
        malformedPackets.wrappingIncrement(ordering: .relaxed)
    }

    // MARK: Reading

    public func rejections(_ reason: ConnectionRejectReason) -> Int {
        rejected[ConnectionRejectReason.allCases.firstIndex(of: reason)!].load(ordering: .relaxed)
    }

    public func serverCloses(_ reason: ConnectionCloseReason) -> Int {
        closedByServer[ConnectionCloseReason.allCases.firstIndex(of: reason)!].load(ordering: .relaxed)
    }

    public func drops(_ reason: DropReason) -> Int {
        dropped[DropReason.allCases.firstIndex(of: reason)!].load(ordering: .relaxed)
    }

    public func packetsReceived(_ type: PacketType) -> Int { packetsIn[Int(type.rawValue)].load(ordering: .relaxed) }
    public func packetsSent(_ type: PacketType) -> Int { packetsOut[Int(type.rawValue)].load(ordering: .relaxed) }
    public var bytesReceived: Int { bytesIn.load(ordering: .relaxed) }
    public var bytesSent: Int { bytesOut.load(ordering: .relaxed) }
}
