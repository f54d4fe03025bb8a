import Foundation

/// The server's INFO: what it is, what it allows, where its peers are.
///
/// Only the fields the client acts on; the server sends more and they are
/// ignored. Sent once on connect and again when the cluster changes
/// (`connect_urls`) or the server enters lame-duck mode (`ldm`).
public struct NATSServerInfo: Sendable, Hashable, Decodable {
    public var serverID: String
    public var serverName: String?
    public var version: String
    public var proto: Int?
    public var maxPayload: Int
    public var headers: Bool?
    public var jetStream: Bool?
    public var authRequired: Bool?
    public var tlsRequired: Bool?
    public var tlsAvailable: Bool?
    public var nonce: String?
    public var clientID: UInt64?
    public var clientIP: String?
    /// Other servers of the cluster a client may reconnect to (`host:port`).
    public var connectURLs: [String]?
    /// Lame-duck mode: the server is about to shut down; move elsewhere.
    public var lameDuckMode: Bool?
    public var cluster: String?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id"
        case serverName = "server_name"
        case version, proto
        case maxPayload = "max_payload"
        case headers
        case jetStream = "jetstream"
        case authRequired = "auth_required"
        case tlsRequired = "tls_required"
        case tlsAvailable = "tls_available"
        case nonce
        case clientID = "client_id"
        case clientIP = "client_ip"
        case connectURLs = "connect_urls"
        case lameDuckMode = "ldm"
        case cluster
    }

    public init(
        serverID: String, serverName: String? = nil, version: String, maxPayload: Int, headers: Bool? = true,
        jetStream: Bool? = nil, connectURLs: [String]? = nil
    ) {
        self.serverID = serverID
        self.serverName = serverName
        self.version = version
        self.maxPayload = maxPayload
        self.headers = headers
        self.jetStream = jetStream
        self.connectURLs = connectURLs
    }

    /// Decodes the JSON after `INFO `.
    public static func decode(_ json: some Collection<UInt8>) throws(NATSProtocolError) -> NATSServerInfo {
        do {
            return try JSONDecoder().decode(NATSServerInfo.self, from: Data(json))
        } catch {
            throw .malformedInfo(String(describing: error))
        }
    }
}
