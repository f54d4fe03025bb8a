import NIOCore
import Synchronization
import WharfCore
import WharfMQTT

/// A delivery target that records what the core asked of it.
final class RecordingTarget: DeliveryTarget {
    private let counts = Mutex((pending: 0, takenOver: 0, resumed: 0))
    /// Set to model the owner's event loop: nil follows the wall clock; a
    /// value stands still, as the loop's clock does while the loop is blocked.
    let loopClock = Mutex<UInt64?>(nil)

    var loopRunningNanos: UInt64 { loopClock.withLock { $0 } ?? Clock.nowNanos() }

    func deliveriesPending() { counts.withLock { $0.pending += 1 } }
    func sessionTakenOver() { counts.withLock { $0.takenOver += 1 } }
    func resumeReading() { counts.withLock { $0.resumed += 1 } }

    var resumeCalls: Int { counts.withLock { $0.resumed } }

    var pendingCalls: Int { counts.withLock { $0.pending } }
    var takeoverCalls: Int { counts.withLock { $0.takenOver } }
}

func message(_ topic: String, _ payload: String = "x", qos: QoS = .atLeastOnce, retain: Bool = false) -> Message {
    Message(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain)
}

func session(_ id: String = "c", persistent: Bool = false, maxInflight: Int = 20, maxQueued: Int = 1000) -> Session {
    Session(clientId: id, isPersistent: persistent, maxInflight: maxInflight, maxQueued: maxQueued)
}

extension OutboundPacket {
    var topic: String? {
        if case .publish(let message, _, _, _, _, _) = self { return message.topic }
        return nil
    }
    var packetId: UInt16? {
        switch self {
        case .publish(_, _, let id, _, _, _): return id
        case .pubrel(let id): return id
        }
    }
    var isDup: Bool {
        if case .publish(_, _, _, _, let dup, _) = self { return dup }
        return false
    }
    var retainFlag: Bool {
        if case .publish(_, _, _, let retain, _, _) = self { return retain }
        return false
    }
    var qos: QoS? {
        if case .publish(_, let qos, _, _, _, _) = self { return qos }
        return nil
    }
    var payloadString: String? {
        if case .publish(let message, _, _, _, _, _) = self { return String(buffer: message.payload) }
        return nil
    }
}
