import NIOHTTP1

extension MetricsServer {
    /// Who may read the metrics listener: requests must carry credentials of
    /// one scheme that `accepts` takes, or get 401. The listener parses the
    /// header; what the credentials are checked against (a token file, a
    /// password file, re-read on SIGHUP) is the caller's, so this module needs
    /// nothing of the broker's configuration.
    public struct Access: Sendable {
        public enum Scheme: String, Sendable {
            case bearer = "Bearer"
            case basic = "Basic"
        }

        public var scheme: Scheme
        /// True leaves `/healthz` and `/readyz` open: load balancers and
        /// scripts that only ask "up?" and "ready?" need no secret, and the
        /// answers give nothing away.
        public var openHealthChecks: Bool
        /// Called on the listener's event loop for each request that brings
        /// credentials of `scheme`; it must stay cheap (see the broker's
        /// basic-auth cache for how a slow hash is kept off the loop).
        let accepts: @Sendable (HTTPCredentials) -> Bool

        public init(scheme: Scheme, openHealthChecks: Bool = true, accepts: @escaping @Sendable (HTTPCredentials) -> Bool) {
            self.scheme = scheme
            self.openHealthChecks = openHealthChecks
            self.accepts = accepts
        }

        /// The `WWW-Authenticate` value of a 401: what a client should send.
        var challenge: String { "\(scheme.rawValue) realm=\"wharf\"" }

        /// Whether the request may be answered.
        func permits(_ head: HTTPRequestHead) -> Bool {
            if openHealthChecks, MetricsHTTPHandler.healthPaths.contains(head.path) { return true }
            guard let header = head.headers.first(name: "Authorization"),
                let credentials = HTTPCredentials(authorization: header), credentials.scheme == scheme
            else { return false }
            return accepts(credentials)
        }
    }
}
