/// Why a NATS operation failed.
public enum NATSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No reply within the request's timeout.
    case timeout
    /// The server answered 503: nothing subscribes to the request's subject
    /// (for JetStream: the API is down or the stream has no leader).
    case noResponders
    /// The connection broke after the request was written; its fate is
    /// unknown (a JetStream publish may or may not have been stored: retry
    /// with the same `Nats-Msg-Id`).
    case connectionLost
    /// `close()` was called.
    case closed
    /// Nothing could be sent: more than the reconnect buffer is waiting
    /// while no server is reachable.
    case outboundBufferFull(limit: Int)
    case protocolError(NATSProtocolError)
    /// An `-ERR` from the server.
    case server(String)
    /// Every server was tried `maxReconnectAttempts` times.
    case noServerAvailable(lastError: String)

    public var description: String {
        switch self {
        case .timeout: return "request timed out"
        case .noResponders: return "no responders"
        case .connectionLost: return "connection lost before the reply"
        case .closed: return "connection closed"
        case .outboundBufferFull(let limit): return "more than \(limit) bytes waiting for a server"
        case .protocolError(let error): return "protocol error: \(error)"
        case .server(let text): return "server error: \(text)"
        case .noServerAvailable(let last): return "no NATS server reachable (last error: \(last))"
        }
    }
}
