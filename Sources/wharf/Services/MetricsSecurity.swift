import Logging
import WharfExporter
import WharfServer

/// The metrics listener's TLS and credentials, from `[metrics]`, in the
/// shape `MetricsServer` takes them. The files are read here, where both the
/// broker's configuration and the exporter are visible, so WharfExporter
/// needs nothing of WharfServer. SIGHUP re-reads them (`reload`).
struct MetricsSecurity: Sendable {
    let tls: MetricsTLS?
    let credentials: MetricsCredentials?
    let openHealthChecks: Bool

    /// Throws what is wrong with a file, naming it and its key: the broker
    /// does not start with a listener it was told to protect left open.
    init(_ settings: MetricsSecuritySettings) throws(ConfigFileError) {
        tls = try MetricsTLS.load(settings)
        credentials = try MetricsCredentials.load(settings)
        openHealthChecks = settings.openHealthChecks
    }

    /// What requests must carry, if anything.
    var access: MetricsServer.Access? {
        guard let credentials else { return nil }
        switch credentials.scheme {
        case .bearer:
            return MetricsServer.Access(scheme: .bearer, openHealthChecks: openHealthChecks) { presented in
                guard case .bearer(let token) = presented else { return false }
                return credentials.accepts(token: token)
            }
        case .basic:
            return MetricsServer.Access(scheme: .basic, openHealthChecks: openHealthChecks) { presented in
                guard case .basic(let user, let password) = presented else { return false }
                return credentials.accepts(user: user, password: password)
            }
        }
    }

    /// Re-reads the certificate, key and credentials file; one that cannot be
    /// used is logged with why, and what was in force stays.
    func reload(logger: Logger) {
        if let tls {
            do {
                try tls.reload()
                logger.info("metrics: TLS certificate and key re-read")
            } catch {
                logger.error("metrics: keeping the TLS files in force: \(error)")
            }
        }
        if let credentials {
            do {
                try credentials.reload()
                logger.info("metrics: \(credentials.path) re-read")
            } catch {
                logger.error("metrics: keeping the credentials in force: \(error)")
            }
        }
    }
}
