/// What `[metrics]` says about protecting the HTTP listener: TLS, and the
/// credentials requests must carry (a bearer token or basic auth, not both).
/// Unset, the listener is plain HTTP and open, which suits its default
/// loopback address.
public struct MetricsSecuritySettings: Sendable, Equatable {
    /// PEM certificate chain; the listener speaks HTTPS when set (with `tlsKey`).
    public var tlsCert: String?
    public var tlsKey: String?
    /// File whose content, trimmed, is the bearer token requests must send.
    public var tokenFile: String?
    /// Mosquitto-format password file for HTTP basic auth.
    public var passwordFile: String?
    /// `/healthz` and `/readyz` answer without credentials.
    public var openHealthChecks = true

    public init() {}
}

extension MetricsSecuritySettings {
    /// Settings that cannot work together: the key at fault and why.
    /// `wharf serve` checks them before it starts, and the listener's setup
    /// again (for a `ServerConfig` built in code). Not when the file is read:
    /// the README's reference block, which must load, shows every key at
    /// once, and `wharf top --config` reads the same file for `[top]` only.
    public var problem: (key: String, problem: String)? {
        typealias Keys = ConfigKeys.Metrics
        if tokenFile != nil, passwordFile != nil {
            return (
                Keys.passwordFile.path,
                "cannot be set together with \(Keys.tokenFile.path): choose a bearer token (token_file) or basic auth (password_file)"
            )
        }
        if tlsCert != nil, tlsKey == nil {
            return (Keys.tlsCert.path, "needs \(Keys.tlsKey.path) too: TLS takes a certificate and its private key")
        }
        if tlsKey != nil, tlsCert == nil {
            return (Keys.tlsKey.path, "needs \(Keys.tlsCert.path) too: TLS takes a certificate and its private key")
        }
        return nil
    }
}
