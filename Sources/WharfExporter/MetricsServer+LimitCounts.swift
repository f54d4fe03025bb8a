import Synchronization
import WharfMetrics

extension MetricsServer {
    /// What the limits did since the listener started, so an operator can tell
    /// a hostile or broken client from a quiet one. Totals only grow.
    public struct LimitCounts: Sendable, Equatable {
        /// HTTP connections open now (at most `Limits.maxConnections`).
        public var openConnections: Int
        /// Connections closed to make room for a newer one under `maxConnections`.
        public var evictedConnections: UInt64
        /// Requests not received in full within `requestReadTimeout` (answered 408).
        public var requestTimeouts: UInt64
        /// Connections closed after `idleTimeout` with no request under way.
        public var idleConnectionsClosed: UInt64
        /// Requests the decoder could not parse (answered 400).
        public var malformedRequests: UInt64
        /// Requests whose line and headers exceeded `maxHeaderBytes` (answered 431).
        public var oversizedHeaders: UInt64
        /// Requests with a body longer than `maxRequestBodyBytes`, or chunked (answered 413).
        public var oversizedBodies: UInt64
        /// Connections closed because their answers piled up unread (requests
        /// pipelined faster than the client reads).
        public var unreadResponseCloses: UInt64
        /// Requests without credentials `Access` accepts (answered 401; the
        /// connection stays open).
        public var unauthorizedRequests: UInt64
    }
}

/// One thing a limit did, counted in `HTTPLimitCounters`.
enum HTTPLimitEvent {
    case evictedConnection
    case requestTimeout
    case idleConnectionClosed
    case malformedRequest
    case oversizedHeaders
    case oversizedBody
    case unreadResponseClose
    case unauthorized
}

/// The totals behind `MetricsServer.LimitCounts`: bumped on the listener's
/// event loop, read from anywhere.
final class HTTPLimitCounters: Sendable {
    private let evicted = Atomic<UInt64>(0)
    private let requestTimeouts = Atomic<UInt64>(0)
    private let idleClosed = Atomic<UInt64>(0)
    private let malformed = Atomic<UInt64>(0)
    private let oversizedHeaders = Atomic<UInt64>(0)
    private let oversizedBodies = Atomic<UInt64>(0)
    private let unreadResponses = Atomic<UInt64>(0)
    private let unauthorized = Atomic<UInt64>(0)

    func record(_ event: HTTPLimitEvent) {
        switch event {
        case .evictedConnection: evicted.add(1, ordering: .relaxed)
        case .requestTimeout: requestTimeouts.add(1, ordering: .relaxed)
        case .idleConnectionClosed: idleClosed.add(1, ordering: .relaxed)
        case .malformedRequest: malformed.add(1, ordering: .relaxed)
        case .oversizedHeaders: oversizedHeaders.add(1, ordering: .relaxed)
        case .oversizedBody: oversizedBodies.add(1, ordering: .relaxed)
        case .unreadResponseClose: unreadResponses.add(1, ordering: .relaxed)
        case .unauthorized: unauthorized.add(1, ordering: .relaxed)
        }
    }

    func counts(openConnections: Int) -> MetricsServer.LimitCounts {
        MetricsServer.LimitCounts(
            openConnections: openConnections,
            evictedConnections: evicted.load(ordering: .relaxed),
            requestTimeouts: requestTimeouts.load(ordering: .relaxed),
            idleConnectionsClosed: idleClosed.load(ordering: .relaxed),
            malformedRequests: malformed.load(ordering: .relaxed),
            oversizedHeaders: oversizedHeaders.load(ordering: .relaxed),
            oversizedBodies: oversizedBodies.load(ordering: .relaxed),
            unreadResponseCloses: unreadResponses.load(ordering: .relaxed),
            unauthorizedRequests: unauthorized.load(ordering: .relaxed)
        )
    }

    /// The snapshot's view: refusals by the reason label docs/metrics.md lists.
    func listenerSnapshot(openConnections: Int, maxConnections: Int) -> HTTPListenerSnapshot {
        let c = counts(openConnections: openConnections)
        return HTTPListenerSnapshot(
            connections: openConnections, maxConnections: maxConnections,
            evictedTotal: Int(clamping: c.evictedConnections), idleClosedTotal: Int(clamping: c.idleConnectionsClosed),
            refusedTotal: [
                "timeout": Int(clamping: c.requestTimeouts), "malformed": Int(clamping: c.malformedRequests),
                "headers_too_large": Int(clamping: c.oversizedHeaders), "body_too_large": Int(clamping: c.oversizedBodies),
                "unread_responses": Int(clamping: c.unreadResponseCloses),
                "unauthorized": Int(clamping: c.unauthorizedRequests),
            ]
        )
    }
}
