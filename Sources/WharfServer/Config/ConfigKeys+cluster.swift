/// `[cluster]`: cluster mode over a NATS JetStream cluster. Any key turns it
/// on (with the defaults for the rest); without the section Wharf is one node.
extension ConfigKeys {
    public enum Cluster {
        /// The defaults hold once the section is there; without it there is no cluster mode.
        static let sectionDefault = "ClusterSettings, with a [cluster] section"
        public static let name = ConfigKey<ServerConfig>.string(
            "cluster", "name", default: .appliedBy("the host name", "wharf-1"),
            doc: "this node's name, unique in the cluster: letters, digits, - and _",
            problem: ClusterSettings.nodeNameProblem
        ) { config, name in config.withCluster { $0.nodeName = name } }
        public static let nats = ConfigKey<ServerConfig>.strings(
            "cluster", "nats", default: .appliedBy(sectionDefault, ["nats://127.0.0.1:4222"]),
            doc: "NATS servers (nats://host:port or tls://host:port); one is enough, all is better",
            problem: { url in
                NATSURLCheck.isValid(url) ? nil : "\"\(url)\" is not a NATS URL (nats://host:port or tls://host:port)"
            }
        ) { config, urls in config.withCluster { $0.natsURLs = urls } }
        public static let replicas = ConfigKey<ServerConfig>.int(
            "cluster", "replicas", 1...5, default: .appliedBy(sectionDefault, 3),
            doc: "copies JetStream keeps of what must outlive a node; at most the number of NATS servers"
        ) { config, replicas in config.withCluster { $0.replicas = replicas } }
        public static let user = ConfigKey<ServerConfig>.string(
            "cluster", "user", default: .unset(example: "wharf"), doc: "optional; NATS user (with password)"
        ) { config, user in config.withCluster { $0.user = user } }
        public static let password = ConfigKey<ServerConfig>.string(
            "cluster", "password", default: .unset(example: "secret"), doc: "optional; NATS password"
        ) { config, password in config.withCluster { $0.password = password } }
        public static let token = ConfigKey<ServerConfig>.string(
            "cluster", "token", default: .unset(example: "s3cr3t"), doc: "optional; NATS token (instead of user and password)"
        ) { config, token in config.withCluster { $0.token = token } }
        public static let tlsCA = ConfigKey<ServerConfig>.path(
            "cluster", "tls_ca", default: .unset(example: "nats-ca.crt"),
            doc: "optional; CA of the NATS servers' certificates (TLS to NATS)"
        ) { config, path in config.withCluster { $0.tlsCA = path } }
        public static let tlsCert = ConfigKey<ServerConfig>.path(
            "cluster", "tls_cert", default: .unset(example: "wharf-node.crt"),
            doc: "optional; this node's certificate, when the NATS servers verify clients"
        ) { config, path in config.withCluster { $0.tlsCert = path } }
        public static let tlsKey = ConfigKey<ServerConfig>.path(
            "cluster", "tls_key", default: .unset(example: "wharf-node.key"), doc: "optional; its private key"
        ) { config, path in config.withCluster { $0.tlsKey = path } }
        public static let lease = ConfigKey<ServerConfig>.number(
            "cluster", "lease", 2...300, default: .appliedBy(sectionDefault, 10),
            doc: "seconds a node's announcement lives without renewal (renewed every lease/5)"
        ) { config, seconds in config.withCluster { $0.leaseSeconds = seconds } }
        public static let groupAckWait = ConfigKey<ServerConfig>.number(
            "cluster", "group_ack_wait", 3...3600, default: .appliedBy(sectionDefault, 30),
            doc: "seconds a consumer group's messages held by a node that died wait before other nodes' members get them"
        ) { config, seconds in config.withCluster { $0.groupAckWaitSeconds = seconds } }

        static let section = ConfigSection(
            "cluster", [name, nats, replicas, user, password, token, tlsCA, tlsCert, tlsKey, lease, groupAckWait])
    }
}

extension ClusterSettings {
    /// Settings that cannot work together: the key at fault and why. Checked
    /// by `wharf serve` before it starts, not when the file is read (the
    /// README's reference block shows every key at once).
    public var problem: (key: String, problem: String)? {
        typealias Keys = ConfigKeys.Cluster
        if token != nil, user != nil {
            return (Keys.token.path, "cannot be set together with \(Keys.user.path): NATS takes a token or a user and password")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            return (tlsCert == nil ? Keys.tlsKey.path : Keys.tlsCert.path, "needs both tls_cert and tls_key")
        }
        return nil
    }
}

/// The URL forms `NATSServerAddress` accepts, checked without importing the
/// client (the config module does not depend on it).
enum NATSURLCheck {
    static func isValid(_ url: String) -> Bool {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            guard ["nats", "tls"].contains(rest[..<scheme.lowerBound].lowercased()) else { return false }
            rest = rest[scheme.upperBound...]
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        guard let colon = rest.lastIndex(of: ":") else { return !rest.isEmpty && !rest.contains("/") }
        guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return false }
        return colon != rest.startIndex
    }
}

extension ServerConfig {
    /// Changes the cluster settings, turning cluster mode on.
    mutating func withCluster(_ change: (inout ClusterSettings) -> Void) {
        var settings = cluster ?? ClusterSettings()
        change(&settings)
        cluster = settings
    }
}
