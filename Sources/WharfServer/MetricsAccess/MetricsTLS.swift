import NIOSSL

/// The metrics listener's TLS context, from `[metrics] tls_cert` and
/// `tls_key`: the same rules as an MQTT listener's (TLS 1.2 and 1.3, a key
/// nobody else may read), so it is built by `ListenerTLS`, with errors named
/// by the `[metrics]` keys. Re-read on SIGHUP (`reload`); new connections get
/// what was read, existing ones keep theirs.
public final class MetricsTLS: Sendable {
    private let tls: ListenerTLS

    /// nil when `[metrics]` sets no certificate: plain HTTP.
    public static func load(_ settings: MetricsSecuritySettings) throws(ConfigFileError) -> MetricsTLS? {
        if let conflict = settings.problem { throw ConfigFileError(file: "[metrics]", key: conflict.key, problem: conflict.problem) }
        guard settings.tlsCert != nil else { return nil }
        return try MetricsTLS(settings)
    }

    private init(_ settings: MetricsSecuritySettings) throws(ConfigFileError) {
        var listener = ListenerConfig()
        listener.tlsCert = settings.tlsCert
        listener.tlsKey = settings.tlsKey
        do {
            tls = try ListenerTLS(listener: listener)
        } catch {
            throw Self.named(error)
        }
    }

    /// The context a new connection gets.
    public var context: NIOSSLContext { tls.context }

    /// `context` as the listener asks for it, once per accepted connection.
    public var provider: @Sendable () -> NIOSSLContext {
        { [tls] in tls.context }
    }

    /// Re-reads the files; on an error the context in force stays.
    public func reload() throws(ConfigFileError) {
        do {
            try tls.reload()
        } catch {
            throw Self.named(error)
        }
    }

    /// `ListenerTLS` names `[listener]` keys; these are `[metrics]` ones.
    private static func named(_ error: TLSSetupError) -> ConfigFileError {
        ConfigFileError(file: error.file, key: "metrics.\(error.key)", problem: error.problem)
    }
}
