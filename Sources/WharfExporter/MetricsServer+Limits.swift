import NIOCore
import NIOHTTP1

extension MetricsServer {
    /// What one client, or many, can hold of the metrics listener. The
    /// defaults leave room for several Prometheus servers, curl and `wharf top`
    /// at once, and bound what a hostile client can pin down.
    public struct Limits: Sendable, Equatable {
        /// Open HTTP connections at most. A new connection beyond it closes the
        /// least recently active one rather than being refused: refusing would let
        /// whoever opens this many idle sockets first lock every scraper out.
        public var maxConnections: Int
        /// A request, once its first byte is in, must arrive in full (head and any
        /// body) within this, or it gets 408 and the connection closes. A deadline,
        /// not an inactivity timer: one byte at a time does not extend it.
        public var requestReadTimeout: TimeAmount
        /// A connection with no request under way for this long is closed (a new
        /// connection that sends nothing, or a keep-alive one between scrapes).
        public var idleTimeout: TimeAmount
        /// The largest request body read (and thrown away: the endpoints are
        /// GET-only). A longer declared length gets 413 and a close before any of
        /// it is read; so does a chunked body, whose length is unknown until read.
        public var maxRequestBodyBytes: Int
        /// The request line and headers together at most; beyond it, 431 and close.
        public var maxHeaderBytes: Int

        public init(
            maxConnections: Int = 64,
            requestReadTimeout: TimeAmount = .seconds(10),
            idleTimeout: TimeAmount = .seconds(60),
            maxRequestBodyBytes: Int = 64 * 1024,
            maxHeaderBytes: Int = 16 * 1024
        ) {
            self.maxConnections = maxConnections
            self.requestReadTimeout = requestReadTimeout
            self.idleTimeout = idleTimeout
            self.maxRequestBodyBytes = maxRequestBodyBytes
            self.maxHeaderBytes = maxHeaderBytes
        }

        /// The decoder's own limits: it fails with `headerOverflow` beyond them.
        var decoderLimits: NIOHTTPDecoderLimitConfiguration {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = maxHeaderBytes
            limits.maxHeaderListSize = maxHeaderBytes
            return limits
        }
    }
}
