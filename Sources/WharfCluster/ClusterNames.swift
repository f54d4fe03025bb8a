import Crypto
import Foundation
import WharfCore

/// The names cluster mode gives things in NATS: subjects, streams, buckets
/// and keys. One place, so a newcomer reading `nats stream ls` or a KV
/// dump knows what each is (docs/cluster.md lists them).
public enum ClusterNames {
    /// QoS 1/2 forwards to a node's subscribers: `wn.q.<node>` in `WHARF_N`.
    public static let forwardStream = "WHARF_N"
    public static let forwardSubjects = "wn.q.>"
    public static func durableForwards(to node: String) -> String { "wn.q.\(node)" }
    /// QoS 0 forwards, core NATS (at most once): `wn.c.<node>`.
    public static func quickForwards(to node: String) -> String { "wn.c.\(node)" }

    /// Requests to a node about its sessions (takeover releases), core
    /// NATS request/reply: `wn.ctl.<node>`.
    public static func control(to node: String) -> String { "wn.ctl.\(node)" }
    /// Questions to a node about the inbound QoS 2 exchanges it routed
    /// (ClusterNode+exchanges), core NATS request/reply: `wn.xq.<node>`.
    public static func exchangeQueries(to node: String) -> String { "wn.xq.\(node)" }

    /// Node leases: `<node>` -> who it is and where its metrics answer.
    public static let nodesBucket = "wharf_nodes"
    /// The route index: `<node>.<filter key>` -> QoS and filter.
    public static let routesBucket = "wharf_routes"
    /// Retained messages: `<topic key>` -> the message (envelope).
    public static let retainedBucket = "wharf_retained"
    /// Persistent sessions: `<client id key>` -> `SessionRecord` (JSON).
    public static let sessionsBucket = "wharf_sessions"

    /// A KV key for a topic or filter: readable (base64url of its bytes)
    /// while short, a SHA-256 beyond (subjects must fit a NATS control
    /// line, 4 KiB by default; a topic may be 64 KiB). Keys are compared,
    /// never decoded: the value always carries the topic or filter itself.
    public static func key(for text: String) -> String {
        let bytes = Data(text.utf8)
        if bytes.count <= 120 { return "t." + base64url(bytes) }
        return "h." + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A route's key: the node, then the filter's key.
    public static func routeKey(node: String, filter: String) -> String { "\(node).\(key(for: filter))" }

    /// The node a route key belongs to.
    public static func node(ofRouteKey key: String) -> Substring? {
        guard let dot = key.firstIndex(of: "."), dot != key.startIndex else { return nil }
        return key[..<dot]
    }

    /// The `Nats-Msg-Id` of an inbound QoS 2 exchange's copy for one
    /// destination (a node's forwards, a session's queue): the same on
    /// every node that routes it, so JetStream stores it once.
    public static func exchangeMessageId(_ exchange: InboundExchange, to destination: String) -> String {
        "x.\(key(for: exchange.clientId)).\(exchange.epoch).\(exchange.serial)>\(destination)"
    }

    static func base64url(_ data: Data) -> String {
        var text = data.base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.last == "=" { text.removeLast() }
        // An empty filter or topic never reaches here (both are invalid), but
        // a key must not be empty: `t.` alone would end in a dot.
        return text.isEmpty ? "-" : text
    }
}
