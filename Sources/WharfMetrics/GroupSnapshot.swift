/// A consumer group (`$share/<name>/<filter>`) at the moment of the snapshot.
public struct GroupSnapshot: Codable, Sendable, Equatable {
    public var name: String
    public var filter: String
    /// Members with a connected client.
    public var consumers: Int
    /// Messages waiting for a member with room.
    public var depth: Int
    /// Given to a member and not acknowledged yet (QoS 1/2).
    public var inflight: Int
    public var enqueuedTotal: Int
    public var deliveredTotal: Int
    public var acknowledgedTotal: Int
    /// Messages a member gave back unacknowledged (it went offline), handed out again.
    public var redeliveredTotal: Int
    /// depth + in flight.
    public var lagMessages: Int
    /// Seconds since the oldest message not yet acknowledged was published; 0 when none.
    public var lagSeconds: Double
    /// Age of the oldest waiting message; absent when none waits.
    public var oldestMessageAgeSeconds: Double?
    public var members: [Member]

    public struct Member: Codable, Sendable, Equatable {
        public var clientId: String
        public var online: Bool
        /// This group's messages the member holds unacknowledged.
        public var inflight: Int
        public var deliveredTotal: Int

        public init(clientId: String, online: Bool, inflight: Int, deliveredTotal: Int) {
            self.clientId = clientId
            self.online = online
            self.inflight = inflight
            self.deliveredTotal = deliveredTotal
        }
    }

    public init(
        name: String, filter: String, consumers: Int, depth: Int, inflight: Int, enqueuedTotal: Int, deliveredTotal: Int,
        acknowledgedTotal: Int, redeliveredTotal: Int, lagMessages: Int, lagSeconds: Double, oldestMessageAgeSeconds: Double?,
        members: [Member]
    ) {
        self.name = name
        self.filter = filter
        self.consumers = consumers
        self.depth = depth
        self.inflight = inflight
        self.enqueuedTotal = enqueuedTotal
        self.deliveredTotal = deliveredTotal
        self.acknowledgedTotal = acknowledgedTotal
        self.redeliveredTotal = redeliveredTotal
        self.lagMessages = lagMessages
        self.lagSeconds = lagSeconds
        self.oldestMessageAgeSeconds = oldestMessageAgeSeconds
        self.members = members
    }
}
