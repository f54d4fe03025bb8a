import NIOSSL
import WharfCluster
import WharfNATS

extension ClusterOptions {
    /// From `[cluster]`: the errors name the key at fault.
    init(_ settings: ClusterSettings) throws(ClusterSettingsError) {
        typealias Keys = ConfigKeys.Cluster
        if let (key, problem) = settings.problem { throw ClusterSettingsError(key: key, problem) }
        var nats: NATSConnectionOptions
        do {
            nats = try NATSConnectionOptions(urls: settings.natsURLs, name: "wharf \(settings.nodeName)")
        } catch {
            throw ClusterSettingsError(key: Keys.nats.path, "\(error)")
        }
        nats.user = settings.user
        nats.password = settings.password
        nats.token = settings.token
        if settings.tlsCA != nil || settings.tlsCert != nil {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let ca = settings.tlsCA {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                } catch {
                    throw ClusterSettingsError(key: Keys.tlsCA.path, "cannot read \(ca): \(error)")
                }
            }
            if let cert = settings.tlsCert, let key = settings.tlsKey {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                } catch {
                    throw ClusterSettingsError(key: Keys.tlsCert.path, "cannot read \(cert) / \(key): \(error)")
                }
            }
            nats.tls = tls
        }
        self.init(
            nodeName: settings.nodeName, nats: nats, replicas: settings.replicas,
            lease: .milliseconds(Int64(settings.leaseSeconds * 1000)))
        groupAckWait = .milliseconds(Int64(settings.groupAckWaitSeconds * 1000))
    }
}

/// A `[cluster]` setting that cannot work, with the key at fault.
public struct ClusterSettingsError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let problem: String

    init(key: String, _ problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "key '\(key)': \(problem)" }
}
