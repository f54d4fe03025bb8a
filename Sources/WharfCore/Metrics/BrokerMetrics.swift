import WharfMQTT

/// Why a message was not delivered to a subscriber.
public enum DropReason: String, Sendable, Hashable, CaseIterable {
    /// The session's queue was at `maxQueuedMessages` (slow or offline consumer).
    case queueFull = "queue_full"
    /// QoS 0 for an offline persistent session: not queued.
    case offlineQoS0 = "offline_qos0"
    /// Published to a topic no subscription matched.
    case noSubscriber = "no_subscriber"
    /// The topic had more levels than `maxTopicLevels` (a will, or a
    /// client publish, which also closes its connection).
    case topicTooDeep = "topic_too_deep"
    /// A client published to `$SYS/...`, which only the broker writes.
    case reservedTopic = "reserved_topic"
    /// A clean session ended with messages still queued.
    case sessionDiscarded = "session_discarded"
    /// Its policy's TTL passed before it could be delivered.
    case expired = "expired"
    /// A queue was at its policy's `max_length`: the oldest waiting message
    /// (overflow drop-oldest) or the new one (reject-new) was dropped.
    case maxLength = "max_length"
    /// Larger than the maximum packet size a 5.0 client said it accepts.
    case packetTooLarge = "packet_too_large"
    /// Refused by a negative acknowledgement and not redelivered (the
    /// consumer's session ended before the retry).
    case rejected = "rejected"
    /// Refused because the journal is full (quota or disk): 5.0
    /// publishers get PUBACK 0x97, 3.1.1 ones are disconnected.
    case storageFull = "storage_full"
}

/// Why a CONNECT was refused (the CONNACK return code's cause).
public enum ConnectionRejectReason: String, Sendable, Hashable, CaseIterable {
    case maxConnections = "max_connections"
    case unsupportedProtocol = "unsupported_protocol"
    case identifierRejected = "identifier_rejected"
    /// CONNACK 4: a user name the password file does not hold.
    case unknownUser = "unknown_user"
    /// CONNACK 4: the password does not match the user's hash (or none was sent).
    case wrongPassword = "wrong_password"
    case notAuthorized = "not_authorized"
    /// A 5.0 CONNECT asked for enhanced authentication, which is not configured.
    case badAuthenticationMethod = "bad_authentication_method"
    /// A socket that had not sent CONNECT, closed to make room for a new
    /// one at `max_pending_connections` (the oldest goes), so silent sockets
    /// cannot fill `max_connections` or lock clients out.
    case maxPendingConnections = "max_pending_connections"
    /// No CONNACK: the socket was closed at accept, its address holding
    /// `max_connections_per_address` sockets already.
    case maxConnectionsPerAddress = "max_connections_per_address"
    /// No CONNACK: the address opened sockets faster than `connection_rate_per_address`.
    case connectionRatePerAddress = "connection_rate_per_address"
    /// Cluster mode: a persistent session's record could not be claimed
    /// (NATS away, the node's lease not renewed, another connect of the
    /// client won): CONNACK 3 (0x88 for 5.0), and the client tries again.
    case clusterUnavailable = "cluster_unavailable"
}

/// Why the server closed an established or half-open connection.
public enum ConnectionCloseReason: String, Sendable, Hashable, CaseIterable {
    case protocolError = "protocol_error"
    case malformedPacket = "malformed_packet"
    case keepAliveTimeout = "keepalive_timeout"
    case connectTimeout = "connect_timeout"
    case takenOver = "taken_over"
    /// A 5.0 client sent more QoS 2 messages awaiting PUBREL than the
    /// server's receive maximum.
    case receiveMaximumExceeded = "receive_maximum_exceeded"
    /// A 5.0 topic alias of 0, above the maximum, or never set.
    case topicAliasInvalid = "topic_alias_invalid"
    /// The journal could not make durable what the client's replies depend
    /// on (disk full, I/O error): unacknowledged, it will send again.
    case storageUnavailable = "storage_unavailable"
    /// 5.0: a reply the client's Maximum Packet Size cannot take even
    /// without its reason string (a SUBACK for thousands of filters sent
    /// with a tiny limit): it cannot be answered, so it is closed.
    case replyTooLarge = "reply_too_large"
    /// 5.0: a client that kept publishing faster than `max_publish_rate` or
    /// `max_publish_bytes_rate` after being slowed down (DISCONNECT 0x96).
    case publishRateExceeded = "publish_rate_exceeded"
    /// Cluster mode: the node could not renew its lease, so it closed its
    /// persistent sessions' connections before another node may take them
    /// (DISCONNECT 0x9C, use another server).
    case clusterLeaseLost = "cluster_lease_lost"
}

/// The one interface the broker reports through. The hot path calls these on
/// every packet, so implementations must be cheap and lock-free (the next
/// step, a metrics model, plugs in here without touching protocol code).
public protocol BrokerMetrics: Sendable {
    func connectionOpened()
    func connectionClosed()
    func connectionRejected(_ reason: ConnectionRejectReason)
    func connectionClosedByServer(_ reason: ConnectionCloseReason)
    func messageReceived(qos: QoS, payloadBytes: Int)
    func messageDropped(_ reason: DropReason, count: Int)
    /// A message ran out of delivery attempts and went to `$DLQ/<topic>`.
    func messageDeadLettered()
    /// A 5.0 consumer refused a delivery (PUBACK/PUBREC reason >= 0x80).
    func messageNacked()
    /// A publish repeated a `wharf-msg-id` seen on its topic within the window.
    func messageDeduplicated()
    /// Flow control paused a publisher's connection (a subscriber queue or
    /// consumer group past its high-water mark): once per pause.
    func publisherPaused()
    /// A client went past `max_publish_rate` / `max_publish_bytes_rate` and
    /// its socket is read slower until it is back within them.
    func publisherThrottled()
    /// `[auth] acl_file` refused a publish, a subscription or a delivery.
    func authorizationDenied(_ action: TopicAction)
    func malformedPacket(_ error: MQTTDecodeError)
    /// A connection's packets, bytes and deliveries since its last flush.
    func record(_ batch: TrafficBatch)
}

/// Metrics switched off (`wharf serve --no-metrics-recording`): every report
/// is dropped. It exists to measure what the metrics model costs.
public struct NoMetrics: BrokerMetrics {
    public init() {}
    public func connectionOpened() {}
    public func connectionClosed() {}
    public func connectionRejected(_ reason: ConnectionRejectReason) {}
    public func connectionClosedByServer(_ reason: ConnectionCloseReason) {}
    public func messageReceived(qos: QoS, payloadBytes: Int) {}
    public func messageDropped(_ reason: DropReason, count: Int) {}
    public func messageDeadLettered() {}
    public func messageNacked() {}
    public func messageDeduplicated() {}
    public func publisherPaused() {}
    public func publisherThrottled() {}
    public func authorizationDenied(_ action: TopicAction) {}
    public func malformedPacket(_ error: MQTTDecodeError) {}
    public func record(_ batch: TrafficBatch) {}
}
