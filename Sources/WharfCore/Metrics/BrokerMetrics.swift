import WharfMQTT

/// Why a message was not delivered to a subscriber.
public enum DropReason: String, Sendable, Hashable, CaseIterable {
    /// The session's queue was at `maxQueuedMessages` (slow or offline consumer).
    case queueFull = "queue_full"
    /// QoS 0 for an offline persistent session: not queued.
    case offlineQoS0 = "offline_qos0"
    /// Published to a topic no subscription matched.
    case noSubscriber = "no_subscriber"
    /// The connection sent a malformed packet; what it carried is lost.
    case malformed = "malformed"
    /// A clean session ended with messages still queued.
    case sessionDiscarded = "session_discarded"
}

/// Why a connection was refused or closed by the server.
public enum ConnectionRejectReason: String, Sendable, Hashable, CaseIterable {
    case maxConnections = "max_connections"
    case unsupportedProtocol = "unsupported_protocol"
    case identifierRejected = "identifier_rejected"
    case badCredentials = "bad_credentials"
    case notAuthorized = "not_authorized"
    case protocolError = "protocol_error"
    case keepAliveTimeout = "keepalive_timeout"
    case takenOver = "taken_over"
}

/// The one interface the broker reports through. The hot path calls these on
/// every packet, so implementations must be cheap and lock-free (the next
/// step, a metrics model, plugs in here without touching protocol code).
public protocol BrokerMetrics: Sendable {
    func connectionOpened()
    func connectionClosed()
    func connectionRejected(_ reason: ConnectionRejectReason)
    func packetReceived(_ type: PacketType, bytes: Int)
    func packetSent(_ type: PacketType, bytes: Int)
    func messageReceived(qos: QoS, payloadBytes: Int)
    func messageDelivered(qos: QoS, payloadBytes: Int)
    func messageDropped(_ reason: DropReason, count: Int)
    func messageRedelivered()
    func malformedPacket(_ error: MQTTDecodeError)
}
