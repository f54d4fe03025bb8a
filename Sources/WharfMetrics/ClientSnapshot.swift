/// A connected client at the moment of the snapshot.
public struct ClientSnapshot: Codable, Sendable, Equatable {
    public var clientId: String
    /// Peer address and port.
    public var address: String
    /// The listener it came in on (`ListenerSnapshot.name`), and whether
    /// over TLS; absent where the broker was not serving listeners.
    public var listener: String?
    public var tls: Bool?
    /// "3.1", "3.1.1" or "5.0".
    public var protocolVersion: String
    /// Clean session = 0: its session (and queue) outlives the connection.
    public var persistent: Bool
    /// Unix time of its CONNECT.
    public var connectedAtSeconds: Double
    /// QoS 1/2 messages sent to it and not yet acknowledged.
    public var inflight: Int
    /// Messages waiting in its session for it.
    public var queued: Int
    /// PUBLISH packets accepted from it, and copies written to it.
    public var messagesReceivedTotal: Int
    public var messagesSentTotal: Int
    /// Bytes of MQTT packets from it and to it.
    public var bytesReceivedTotal: Int
    public var bytesSentTotal: Int

    public init(
        clientId: String, address: String, protocolVersion: String, persistent: Bool, connectedAtSeconds: Double,
        inflight: Int, queued: Int, messagesReceivedTotal: Int, messagesSentTotal: Int, bytesReceivedTotal: Int, bytesSentTotal: Int
    ) {
        self.clientId = clientId
        self.address = address
        self.protocolVersion = protocolVersion
        self.persistent = persistent
        self.connectedAtSeconds = connectedAtSeconds
        self.inflight = inflight
        self.queued = queued
        self.messagesReceivedTotal = messagesReceivedTotal
        self.messagesSentTotal = messagesSentTotal
        self.bytesReceivedTotal = bytesReceivedTotal
        self.bytesSentTotal = bytesSentTotal
    }
}
