import Synchronization
import WharfMQTT

extension Session {
    // MARK: Inbound QoS 2 (3.1.1 section 4.3.3, method B)

    /// Records an inbound QoS 2 id. Returns false if it is already awaiting
    /// PUBREL, meaning the PUBLISH is a resend and must not be routed again.
    public func beginInboundExactlyOnce(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.insert(id).inserted }
    }

    /// True if `id` is an inbound QoS 2 id awaiting PUBREL (a PUBLISH with it is a resend).
    public func awaitsRelease(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.contains(id) }
    }

    /// Inbound QoS 2 messages awaiting PUBREL: the client's in-flight count
    /// toward the server's receive maximum (5.0 section 4.9).
    public var inboundAwaitingRelease: Int { state.withLock { $0.awaitingRelease.count } }

    /// Returns false for an id that was not awaiting PUBREL.
    @discardableResult
    public func releaseInbound(_ id: UInt16) -> Bool {
        state.withLock { $0.awaitingRelease.remove(id) != nil }
    }
}
