import NIOSSL

/// How a `NATSConnection` connects, authenticates and recovers.
public struct NATSConnectionOptions: Sendable {
    public var servers: [NATSServerAddress]
    /// Shown in the server's connection list (`/connz`).
    public var name: String
    public var user: String?
    public var password: String?
    public var token: String?
    /// TLS to the servers: required when set (or a `tls://` URL, or a server
    /// that requires it). Carries the CA and, for mutual TLS, our certificate.
    public var tls: TLSConfiguration?
    /// Shuffle the configured servers, so nodes spread over the cluster.
    public var shuffleServers = true
    /// Per attempt: TCP connect, INFO, TLS and the CONNECT/PONG handshake.
    public var connectTimeout: Duration = .seconds(2)
    /// After every server failed once, wait this long (plus up to
    /// `reconnectJitter`) before the next round.
    public var reconnectWait: Duration = .milliseconds(500)
    public var reconnectJitter: Duration = .milliseconds(250)
    /// Rounds over the pool before giving up on the first connect; nil is
    /// forever. Reconnects after a connection was up always go on (a broker
    /// must come back when NATS does); `close()` ends them.
    public var maxConnectRounds: Int? = 3
    /// PING every interval; a connection with `maxPingsOutstanding` PINGs
    /// unanswered is dead, even if TCP has not noticed.
    public var pingInterval: Duration = .seconds(10)
    public var maxPingsOutstanding = 2
    /// What may wait in memory while no server is reachable (nats.go's
    /// ReconnectBufSize): beyond it, publishes fail rather than grow without bound.
    public var reconnectBufferSize = 8 * 1024 * 1024
    /// Outbound bytes above which a publish fails while connected too (the
    /// socket is not draining).
    public var maxPendingBytes = 64 * 1024 * 1024
    /// Prefix of the reply subjects of requests.
    public var inboxPrefix = "_INBOX"
    public var requestTimeout: Duration = .seconds(5)
    /// Deliver our own publishes to our own subscriptions (NATS `echo`).
    /// Off: a node never hears itself on the subjects it shares with others.
    public var echo = false

    public init(servers: [NATSServerAddress], name: String = "wharf") {
        self.servers = servers
        self.name = name
    }

    /// From URLs as an operator writes them; the error names the bad one.
    public init(urls: [String], name: String = "wharf") throws(NATSConfigurationError) {
        var servers: [NATSServerAddress] = []
        for url in urls {
            guard let address = NATSServerAddress(url: url) else { throw .badURL(url) }
            servers.append(address)
        }
        guard !servers.isEmpty else { throw .noServers }
        self.init(servers: servers, name: name)
    }
}

public enum NATSConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    case badURL(String)
    case noServers

    public var description: String {
        switch self {
        case .badURL(let url): return "\(url.debugDescription) is not a NATS URL (nats://host:port or tls://host:port)"
        case .noServers: return "no NATS server given"
        }
    }
}
