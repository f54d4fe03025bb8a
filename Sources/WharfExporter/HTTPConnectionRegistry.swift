import NIOCore
import Synchronization

/// The listener's open connections, held to a capacity. When a new one would
/// exceed it, the connection heard from least recently is closed to make
/// room: idle or stalled sockets can then never lock scrapers (or /healthz)
/// out. A scrape that just sent its request is among the last picked; one
/// waiting between scrapes on a kept-alive connection may be picked, and
/// simply reconnects.
final class HTTPConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        var lastActive: NIODeadline
    }

    private let capacity: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.withLock { $0.count } }

    /// Takes `channel` in; returns the connection to close to make room, if any.
    func admit(_ channel: any Channel) -> (any Channel)? {
        entries.withLock { entries in
            var evicted: (any Channel)?
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastActive < $1.value.lastActive }) {
                entries[oldest.key] = nil
                evicted = oldest.value.channel
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, lastActive: .now())
            return evicted
        }
    }

    /// Bytes came in on `channel`: it is the last one to be evicted now.
    func touch(_ channel: any Channel) {
        let now = NIODeadline.now()
        entries.withLock { $0[ObjectIdentifier(channel)]?.lastActive = now }
    }

    func remove(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}
