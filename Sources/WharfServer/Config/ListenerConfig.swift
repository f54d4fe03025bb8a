/// One `[[listener]]`: where it listens, which transport it speaks and its
/// TLS settings. Keys are named like Mosquitto's listener options, so an
/// operator moving from it finds them where expected.
public struct ListenerConfig: Sendable, Equatable {
    /// What runs on the socket (TLS, when set, is below either).
    public enum Transport: String, Sendable, CaseIterable {
        /// MQTT packets straight on the stream.
        case mqtt
        /// MQTT in binary WebSocket frames (MQTT 5.0 section 6), for browsers.
        case websocket
    }

    /// Which part of a client certificate becomes the user name
    /// (Mosquitto's `use_identity_as_username`, with the field made explicit).
    public enum CertificateIdentity: String, Sendable, CaseIterable {
        /// The subject's common name.
        case commonName = "cn"
        /// The first DNS name among the subject alternative names.
        case dnsName = "san-dns"
        /// The first e-mail address among the subject alternative names.
        case email = "san-email"
    }

    public var bind = "127.0.0.1"
    public var port = 1883
    public var transport = Transport.mqtt
    /// The HTTP path a WebSocket upgrade must ask for.
    public var websocketPath = "/mqtt"
    /// PEM certificate chain; TLS is on when it is set.
    public var tlsCert: String?
    public var tlsKey: String?
    /// PEM CA bundle client certificates are verified against.
    public var tlsCA: String?
    /// Refuse a TLS client that presents no certificate signed by `tlsCA`.
    public var requireCertificate = false
    /// The certificate's identity as the user name; implies `requireCertificate`.
    public var useIdentityAsUsername: CertificateIdentity?

    public init() {}

    public init(bind: String, port: Int, transport: Transport = .mqtt) {
        self.bind = bind
        self.port = port
        self.transport = transport
    }

    public var usesTLS: Bool { tlsCert != nil }

    /// A client without a valid certificate is refused at the handshake.
    public var requiresCertificate: Bool { requireCertificate || useIdentityAsUsername != nil }

    /// How operators name the listener's kind: mqtt, mqtts, ws or wss.
    public var scheme: String {
        switch (transport, usesTLS) {
        case (.mqtt, false): "mqtt"
        case (.mqtt, true): "mqtts"
        case (.websocket, false): "ws"
        case (.websocket, true): "wss"
        }
    }

    /// How messages name the kind: "MQTT", "MQTT over TLS", "MQTT over WebSocket"...
    public var kindDescription: String {
        switch (transport, usesTLS) {
        case (.mqtt, false): "MQTT"
        case (.mqtt, true): "MQTT over TLS"
        case (.websocket, false): "MQTT over WebSocket"
        case (.websocket, true): "MQTT over secure WebSocket"
        }
    }

    /// What is wrong with the combination of keys, if anything: the key at
    /// fault and the problem.
    var problem: (key: String, problem: String)? {
        if tlsCert != nil, tlsKey == nil { return ("tls_key", "is required with tls_cert") }
        if tlsKey != nil, tlsCert == nil { return ("tls_cert", "is required with tls_key") }
        if tlsCA != nil, tlsCert == nil { return ("tls_ca", "needs tls_cert and tls_key: client certificates are checked only over TLS") }
        if requireCertificate, tlsCA == nil {
            return ("require_certificate", "needs tls_ca, the CA client certificates must be signed by")
        }
        if useIdentityAsUsername != nil, tlsCA == nil {
            return ("use_identity_as_username", "needs tls_ca: the identity comes from a client certificate verified against it")
        }
        if transport == .websocket, !websocketPath.hasPrefix("/") {
            return ("websocket_path", "must start with /; got \"\(websocketPath)\"")
        }
        return nil
    }
}
