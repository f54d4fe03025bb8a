import Foundation
import NIOSSL
import Synchronization

/// A listener's TLS context, built from its PEM files at start and rebuilt
/// on SIGHUP (`reload`). Connections take the context current when they are
/// accepted, so a reload changes what new clients get and leaves existing
/// connections as they are.
public final class ListenerTLS: Sendable {
    let listener: ListenerConfig
    private let current: Mutex<NIOSSLContext>

    /// Reads the files; throws what is wrong with them, naming the file.
    public init(listener: ListenerConfig) throws(TLSSetupError) {
        self.listener = listener
        self.current = Mutex(try Self.makeContext(listener))
    }

    /// The context new connections get.
    public var context: NIOSSLContext { current.withLock { $0 } }

    /// Re-reads the files; on an error the old context stays in force.
    public func reload() throws(TLSSetupError) {
        let context = try Self.makeContext(listener)
        current.withLock { $0 = context }
    }

    /// TLS 1.2 and 1.3 only. With `tls_ca`, client certificates are asked
    /// for and checked against it (expiry included, by BoringSSL); with
    /// `require_certificate`, a client without one is refused.
    static func makeContext(_ listener: ListenerConfig) throws(TLSSetupError) -> NIOSSLContext {
        guard let certPath = listener.tlsCert, let keyPath = listener.tlsKey else {
            throw TLSSetupError(key: "tls_cert", file: listener.tlsCert ?? "", problem: "tls_cert and tls_key are both required for TLS")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certPath)
        } catch {
            throw TLSSetupError(key: "tls_cert", file: certPath, problem: "cannot be read as PEM certificates (\(error))")
        }
        guard !chain.isEmpty else { throw TLSSetupError(key: "tls_cert", file: certPath, problem: "holds no certificate") }
        try checkPrivate(keyPath)
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSSetupError(key: "tls_key", file: keyPath, problem: "cannot be read as a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        if let caPath = listener.tlsCA {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(caPath)
            } catch {
                throw TLSSetupError(key: "tls_ca", file: caPath, problem: "cannot be read as PEM certificates (\(error))")
            }
            guard !roots.isEmpty else { throw TLSSetupError(key: "tls_ca", file: caPath, problem: "holds no certificate") }
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = true
            configuration.certificateVerification = listener.requiresCertificate ? .noHostnameVerification : .optionalVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError(key: "tls_key", file: keyPath, problem: "does not make a TLS context with \(certPath) (\(error))")
        }
    }

    /// A private key anyone on the machine can read is no longer private:
    /// refused, as ssh refuses such a key. Group-readable (0640, Debian's
    /// ssl-cert group) is allowed.
    static func checkPrivate(_ path: String) throws(TLSSetupError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw TLSSetupError(key: "tls_key", file: path, problem: "cannot be read (\(String(cString: strerror(errno))))")
        }
        let mode = status.st_mode & 0o777
        guard mode & 0o004 == 0 else {
            throw TLSSetupError(
                key: "tls_key", file: path,
                problem: "is readable by every user (mode \(String(mode, radix: 8))); make it private: chmod 600 \(path)")
        }
    }
}

/// A TLS file that cannot be used, with the key that names it.
public struct TLSSetupError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let file: String
    public let problem: String

    public var description: String { "\(key) \(file): \(problem)" }
}
