/// Where a stream's or consumer's Raft group runs: the leader and how far
/// each other replica is behind. What cluster mode's health view shows.
public struct ClusterInfo: Sendable, Hashable, Codable {
    /// The cluster's name; absent on a server that is not clustered.
    public var name: String?
    /// The server that leads the group; absent while there is none.
    public var leader: String?
    /// The other replicas, leader excluded (2.9.10 lists only followers).
    public var replicas: [PeerInfo]

    public init(name: String? = nil, leader: String? = nil, replicas: [PeerInfo] = []) {
        self.name = name
        self.leader = leader
        self.replicas = replicas
    }

    enum CodingKeys: String, CodingKey { case name, leader, replicas }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        leader = try container.decodeIfPresent(String.self, forKey: .leader)
        replicas = try container.decodeIfPresent([PeerInfo].self, forKey: .replicas) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(leader, forKey: .leader)
        if !replicas.isEmpty { try container.encode(replicas, forKey: .replicas) }
    }
}

/// One follower of a Raft group.
public struct PeerInfo: Sendable, Hashable, Codable {
    /// The server's name.
    public var name: String
    /// Caught up with the leader.
    public var current: Bool
    /// The leader has not heard from it; it is down or cut off.
    public var offline: Bool
    /// Time since the leader last heard from it.
    public var active: Duration
    /// Log entries it is behind.
    public var lag: UInt64
    /// The server's short Raft peer id.
    public var peer: String?

    public init(
        name: String, current: Bool, offline: Bool = false, active: Duration = .zero, lag: UInt64 = 0, peer: String? = nil
    ) {
        self.name = name
        self.current = current
        self.offline = offline
        self.active = active
        self.lag = lag
        self.peer = peer
    }

    enum CodingKeys: String, CodingKey { case name, current, offline, active, lag, peer }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        current = try container.decodeIfPresent(Bool.self, forKey: .current) ?? false
        offline = try container.decodeIfPresent(Bool.self, forKey: .offline) ?? false
        active = try container.decodeNanosecondsIfPresent(forKey: .active) ?? .zero
        lag = try container.decodeIfPresent(UInt64.self, forKey: .lag) ?? 0
        peer = try container.decodeIfPresent(String.self, forKey: .peer)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(current, forKey: .current)
        try container.encodeIfTrue(offline, forKey: .offline)
        try container.encodeNanoseconds(active, forKey: .active)
        if lag != 0 { try container.encode(lag, forKey: .lag) }
        try container.encodeIfPresent(peer, forKey: .peer)
    }
}
