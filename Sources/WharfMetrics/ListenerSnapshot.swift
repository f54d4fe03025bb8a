/// One MQTT listener (`[[listener]]`) at the moment of the snapshot.
/// Defined in docs/metrics.md.
public struct ListenerSnapshot: Codable, Sendable, Equatable {
    /// `scheme:port`, e.g. `mqtts:8883`: the label of its Prometheus series.
    public var name: String
    /// "mqtt" or "websocket".
    public var transport: String
    public var tls: Bool
    public var bind: String
    public var port: Int
    /// Sockets open on it now, MQTT-connected or not yet.
    public var connections: Int
    /// Sockets it accepted since start.
    public var acceptedTotal: Int
    /// Sockets refused before MQTT began, by reason: `tls_handshake` (no
    /// TLS, a bad or missing client certificate), `websocket_handshake`
    /// (another path, no `mqtt` subprotocol, plain HTTP).
    public var refusedTotal: [String: Int]

    public init(
        name: String, transport: String, tls: Bool, bind: String, port: Int, connections: Int, acceptedTotal: Int,
        refusedTotal: [String: Int]
    ) {
        self.name = name
        self.transport = transport
        self.tls = tls
        self.bind = bind
        self.port = port
        self.connections = connections
        self.acceptedTotal = acceptedTotal
        self.refusedTotal = refusedTotal
    }
}
