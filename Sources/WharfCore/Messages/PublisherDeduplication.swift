import DequeModule
import Synchronization
import WharfMQTT

/// Publisher de-duplication: a message carrying the user property
/// `wharf-msg-id` is routed once per topic within a time window; repeats
/// (a publisher retrying after a lost acknowledgement, a replayed batch) are
/// acknowledged but not routed again.
///
/// Ids are kept in arrival order, so expiry and the capacity bound both drop
/// from the front: O(1) per publish, no scan.
public final class PublisherDeduplication: Sendable {
    public static let userPropertyName = "wharf-msg-id"

    private struct State: Sendable {
        var seen: [String: UInt64] = [:]
        var order = Deque<(key: String, expires: UInt64)>()
    }

    private let state = Mutex(State())
    private let windowNanos: UInt64
    private let capacity: Int

    public init(windowSeconds: Double, capacity: Int) {
        self.windowNanos = UInt64(max(0, windowSeconds) * 1e9)
        self.capacity = max(1, capacity)
    }

    /// Records `id` for `topic`; returns true if it was already seen within
    /// the window (the message must not be routed).
    public func isRepeat(topic: String, id: String, now: UInt64 = Clock.nowNanos()) -> Bool {
        let key = topic + "\u{0}" + id
        return state.withLock { state in
            Self.prune(&state, now: now)
            if let expires = state.seen[key], expires > now { return true }
            let expires = now &+ windowNanos
            state.seen[key] = expires
            state.order.append((key, expires))
            while state.order.count > capacity, let oldest = state.order.popFirst() {
                if state.seen[oldest.key] == oldest.expires { state.seen.removeValue(forKey: oldest.key) }
            }
            return false
        }
    }

    /// Puts back an id the journal kept, seen `age` nanoseconds ago;
    /// ignored if its window has already passed. An age, not a monotonic
    /// time: an id seen before this machine booted has no monotonic time
    /// (it would clamp to 0 and live on for a whole window after boot).
    public func restore(topic: String, id: String, age: UInt64, now: UInt64) {
        guard age < windowNanos else { return }
        let expires = now &+ (windowNanos - age)
        let key = topic + "\u{0}" + id
        state.withLock { state in
            state.seen[key] = expires
            state.order.append((key, expires))
        }
    }

    /// Forgets ids whose window has passed.
    public func prune(now: UInt64) {
        state.withLock { Self.prune(&$0, now: now) }
    }

    public var count: Int { state.withLock { $0.seen.count } }

    private static func prune(_ state: inout State, now: UInt64) {
        while let oldest = state.order.first, oldest.expires <= now {
            state.order.removeFirst()
            if state.seen[oldest.key] == oldest.expires { state.seen.removeValue(forKey: oldest.key) }
        }
    }
}

extension Message {
    /// The `wharf-msg-id` among the properties it carries to subscribers;
    /// nil without one (or with properties that do not parse).
    public var deduplicationId: String? {
        guard let forwardedProperties else { return nil }
        let properties = try? MQTTProperties.readEntries(forwardedProperties, in: .publish, packet: "PUBLISH")
        return properties?.userProperty(PublisherDeduplication.userPropertyName)
    }
}
