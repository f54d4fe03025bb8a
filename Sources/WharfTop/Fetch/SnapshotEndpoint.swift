import Foundation
import NIOCore

/// Where a broker's snapshot API lives: `http://host:port` or `https://host:port`.
public struct SnapshotEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// Whether the metrics listener speaks TLS (an https URL).
    public var usesTLS: Bool
    public var url: String { "\(usesTLS ? "https" : "http")://\(host):\(port)" }

    /// Accepts `http://host:port`, `https://host:port`, `host:port` or
    /// `:port` (loopback); without a scheme, http.
    public init(parsing text: String) throws(EndpointError) {
        var rest = Substring(text)
        usesTLS = false
        if rest.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        } else if rest.hasPrefix("https://") {
            rest = rest.dropFirst(8)
            usesTLS = true
        } else if rest.contains("://") {
            throw EndpointError(text: text, problem: "expected an http:// or https:// URL")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            throw EndpointError(text: text, problem: "expected http://HOST:PORT or https://HOST:PORT")
        }
        let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.host = host.isEmpty ? "127.0.0.1" : host
        self.port = port
    }

    /// The name sent in TLS's server name indication and checked against the
    /// certificate; nil for an IP address, which SNI may not carry (the
    /// certificate is then checked against the address connected to).
    var serverHostname: String? {
        (try? SocketAddress(ipAddress: host, port: port)) == nil ? host : nil
    }
}

public struct EndpointError: Error, CustomStringConvertible {
    public var text: String
    public var problem: String
    public var description: String { "--url \(text): \(problem)" }
}
