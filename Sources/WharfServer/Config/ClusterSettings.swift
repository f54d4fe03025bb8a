/// What `[cluster]` says: this node's name and the NATS JetStream cluster
/// it runs over. Nil in `ServerConfig` (no `[cluster]` section): Wharf is a
/// single node with its embedded log, exactly as without cluster mode.
public struct ClusterSettings: Sendable, Equatable {
    /// Unique among the cluster's nodes; a NATS subject token.
    public var nodeName = ClusterSettings.defaultNodeName
    /// The NATS servers (`nats://host:4222`, `tls://host:4222`); one is
    /// enough, the others are learned from it, but list them all so a node
    /// can start while one is down.
    public var natsURLs: [String] = ["nats://127.0.0.1:4222"]
    /// Copies JetStream keeps of what must outlive a node (1, 3 or 5).
    public var replicas = 3
    /// Credentials for NATS: user and password, or a token.
    public var user: String?
    public var password: String?
    public var token: String?
    /// TLS to NATS: the CA that signed the servers' certificates, and our
    /// certificate and key when the servers verify clients.
    public var tlsCA: String?
    public var tlsCert: String?
    public var tlsKey: String?
    /// Seconds a node's announcement lives without renewal: how soon the
    /// others see it gone.
    public var leaseSeconds = 10.0
    /// Seconds a consumer group's message pulled by a node waits, when that
    /// node dies, before another node's members get it.
    public var groupAckWaitSeconds = 30.0

    public init() {}

    /// The host name, made a valid node name.
    public static var defaultNodeName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let named = gethostname(&buffer, buffer.count - 1) == 0
        let host = named ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "wharf"
        let cleaned = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
        return cleaned.isEmpty ? "wharf" : cleaned
    }

    /// A node name is one NATS subject token: letters, digits, `-` and `_`.
    static func nodeNameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 64 else { return "must be 1 to 64 characters" }
        guard
            name.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else { return "may hold only letters, digits, - and _ (it names NATS subjects); got \"\(name)\"" }
        return nil
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
