/// The keys of a `[listener]` table, or of each `[[listener]]` one: a
/// `ListenerConfig` each. `bind` and `port` of the first listener also have
/// flags (`flagged`).
extension ConfigKeys {
    public enum Listener {
        public static let bind = ConfigKey<ListenerConfig>.string(
            "listener", "bind", default: .value("127.0.0.1"), doc: "address to listen on; loopback unless you choose otherwise",
            flag: .option("bind", "Address to listen on (the first listener)")
        ) { $0.bind = $1 }
        public static let port = ConfigKey<ListenerConfig>.int(
            "listener", "port", 0...65535, default: .value(1883), doc: "0 = any free port; 8883 is usual for TLS, 8083/8084 for WebSocket",
            flag: .option("port", "MQTT port of the first listener", note: "0 picks a free port")
        ) { $0.port = $1 }
        public static let transport = ConfigKey<ListenerConfig>.choice(
            "listener", "protocol", of: ListenerConfig.Transport.self, default: .value("mqtt"),
            doc: "\"mqtt\", or \"websocket\" (subprotocol mqtt, binary frames)"
        ) { $0.transport = $1 }
        public static let websocketPath = ConfigKey<ListenerConfig>.string(
            "listener", "websocket_path", default: .value("/mqtt"), doc: "the path a WebSocket upgrade must request"
        ) { $0.websocketPath = $1 }
        public static let tlsCert = ConfigKey<ListenerConfig>.path(
            "listener", "tls_cert", default: .unset(example: "server.crt"),
            doc: "PEM certificate chain; TLS 1.2/1.3 is on for this listener when set; re-read on SIGHUP"
        ) { $0.tlsCert = $1 }
        public static let tlsKey = ConfigKey<ListenerConfig>.path(
            "listener", "tls_key", default: .unset(example: "server.key"),
            doc: "PEM private key; refused if anyone else may read it (chmod 600 or 640)"
        ) { $0.tlsKey = $1 }
        public static let tlsCA = ConfigKey<ListenerConfig>.path(
            "listener", "tls_ca", default: .unset(example: "ca.crt"), doc: "PEM CA bundle client certificates are verified against"
        ) { $0.tlsCA = $1 }
        public static let requireCertificate = ConfigKey<ListenerConfig>.bool(
            "listener", "require_certificate", default: .value(false),
            doc: "true: refuse clients without a valid certificate signed by tls_ca"
        ) { $0.requireCertificate = $1 }
        public static let useIdentityAsUsername = ConfigKey<ListenerConfig>.choice(
            "listener", "use_identity_as_username", of: ListenerConfig.CertificateIdentity.self, default: .unset(example: "cn"),
            doc: "the client certificate's \"cn\", \"san-dns\" or \"san-email\" is the user name (implies require_certificate)"
        ) { $0.useIdentityAsUsername = $1 }

        static let keys = [bind, port, transport, websocketPath, tlsCert, tlsKey, tlsCA, requireCertificate, useIdentityAsUsername]

        /// `--bind` and `--port`: `bind` and `port` of the first listener.
        public static let firstBind = flagged(bind)
        public static let firstPort = flagged(port)
        /// The listener keys a `wharf serve` flag sets.
        public static let flags = [firstBind, firstPort]

        /// `key` as it sets the first listener of a `ServerConfig`: for its flag.
        static func flagged(_ key: ConfigKey<ListenerConfig>) -> ConfigKey<ServerConfig> {
            ConfigKey<ServerConfig>(
                section: key.section, name: key.name, kind: key.kind, defaultValue: key.defaultValue, doc: key.doc, flag: key.flag
            ) { root, value, file throws(ConfigProblem) in try key.assign(&root.listeners[0], value, file) }
        }
    }
}
