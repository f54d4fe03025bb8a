/// The servers a connection may use and the order it tries them in: the
/// configured ones, plus what the cluster advertises in INFO's
/// `connect_urls` (so a client given one URL still survives that server's
/// loss). A value type: the connection asks it where to go next.
public struct NATSServerPool: Sendable {
    public struct Entry: Sendable, Hashable {
        public var address: NATSServerAddress
        /// Learned from INFO rather than configured: dropped when the
        /// cluster stops advertising it.
        public var discovered: Bool
        /// Failed attempts since this server last accepted us.
        public var failures = 0
    }

    public private(set) var entries: [Entry]
    private var cursor = 0

    public init(_ addresses: [NATSServerAddress], shuffle: Bool) {
        var unique: [NATSServerAddress] = []
        for address in addresses where !unique.contains(where: { $0.host == address.host && $0.port == address.port }) {
            unique.append(address)
        }
        if shuffle { unique.shuffle() }
        entries = unique.map { Entry(address: $0, discovered: false) }
    }

    /// The next server to try, round robin. `roundCompleted` is true when
    /// this choice starts a new pass over the pool, so the caller waits
    /// before hammering the same servers again.
    public mutating func next() -> (address: NATSServerAddress, roundCompleted: Bool)? {
        guard !entries.isEmpty else { return nil }
        if cursor >= entries.count { cursor = 0 }
        let entry = entries[cursor]
        cursor += 1
        return (entry.address, cursor == 1)
    }

    /// Most failures of any server since it last accepted us.
    public var failuresOfMostFailed: Int { entries.map(\.failures).max() ?? 0 }

    public mutating func failed(_ address: NATSServerAddress) {
        if let index = index(of: address) { entries[index].failures += 1 }
    }

    public mutating func connected(_ address: NATSServerAddress) {
        if let index = index(of: address) {
            entries[index].failures = 0
            // The next reconnect starts with the server after this one.
            cursor = index + 1
        }
    }

    /// Merges INFO's `connect_urls` (`host:port`): new ones are added,
    /// discovered ones no longer listed are dropped. Configured servers stay.
    public mutating func merge(connectURLs: [String], tls: Bool) {
        let advertised = connectURLs.compactMap { NATSServerAddress(url: $0) }
        entries.removeAll { entry in
            entry.discovered && !advertised.contains { $0.host == entry.address.host && $0.port == entry.address.port }
        }
        for var address in advertised where index(of: address) == nil {
            address.tls = tls
            entries.append(Entry(address: address, discovered: true))
        }
    }

    private func index(of address: NATSServerAddress) -> Int? {
        entries.firstIndex { $0.address.host == address.host && $0.address.port == address.port }
    }
}
