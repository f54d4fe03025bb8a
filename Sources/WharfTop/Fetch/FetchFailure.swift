import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Why a poll of one endpoint failed, said so the user knows what to fix:
/// the dashboard shows it while the broker is marked disconnected.
struct FetchFailure: Sendable {
    let endpoint: SnapshotEndpoint
    /// Whether the request carried a token (`--token-file`).
    let sentToken: Bool

    func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return io.description }
        if error is NIOConnectionError || "\(error)".contains("connectionRefused") { return "connection refused" }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS: the broker's certificate is not for \(endpoint.host)"
        }
        if error is NIOSSLError || error is BoringSSLError {
            // BoringSSL's reason for a chain it cannot check back to a root.
            if "\(error)".contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS: certificate not trusted; check --ca-file (the CA that signed the broker's tls_cert)"
            }
            return "TLS handshake failed (\(error)); is \(endpoint.url) an https listener?"
        }
        return "\(error)"
    }

    /// A non-200 answer.
    func describe(_ status: HTTPResponseStatus) -> String {
        guard status == .unauthorized else { return "HTTP \(status.code) from /api/v1/snapshot" }
        return sentToken
            ? "unauthorized: check --token-file (the broker refused the token)"
            : "unauthorized: check --token-file (the broker asks for a token; none was given)"
    }

    /// The connection ended before a whole answer: an http URL for an https
    /// listener looks like this (the listener drops what is not TLS).
    var closedEarly: String {
        endpoint.usesTLS
            ? "connection closed before a full answer"
            : "connection closed before a full answer; if the listener has TLS, use https://"
    }
}
