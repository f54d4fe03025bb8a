/// One server to connect to: `nats://host:port`, `tls://host:port` or
/// `host:port` (as INFO's `connect_urls` lists them).
public struct NATSServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// `tls://` asks for TLS even if the server does not require it.
    public var tls: Bool
    /// Credentials in the URL (`nats://user:pass@host:4222`).
    public var user: String?
    public var password: String?

    public init(host: String, port: Int = 4222, tls: Bool = false, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.user = user
        self.password = password
    }

    /// Parses a URL; nil (with no guessing) when it is not one.
    public init?(url: String) {
        var rest = Substring(url)
        var tls = false
        if let schemeEnd = rest.range(of: "://") {
            switch rest[..<schemeEnd.lowerBound].lowercased() {
            case "nats": break
            case "tls": tls = true
            default: return nil
            }
            rest = rest[schemeEnd.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                user = String(credentials)
            }
        }
        var host = rest
        var port = 4222
        if rest.hasPrefix("[") {
            // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = value
        }
        guard !host.isEmpty, (1...65535).contains(port), !host.contains(where: { $0 == "/" || $0 == " " }) else {
            return nil
        }
        self.init(host: String(host), port: port, tls: tls, user: user, password: password)
    }

    public var description: String { "\(tls ? "tls" : "nats")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}
