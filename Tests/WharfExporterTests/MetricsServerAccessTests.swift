import Foundation
import Logging
import Testing

@testable import WharfExporter

/// The listener with `MetricsServer.Access`: what is refused, how, and what
/// stays open, over real sockets on 127.0.0.1.
@Suite(.serialized) struct MetricsServerAccessTests {
    static let token = "s3cret-token"

    static func bearer(openHealthChecks: Bool = true) -> MetricsServer.Access {
        MetricsServer.Access(scheme: .bearer, openHealthChecks: openHealthChecks) { credentials in
            credentials == .bearer(token: Array(token.utf8))
        }
    }

    static func request(_ path: String, authorization: String? = nil) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\n" + (authorization.map { "Authorization: \($0)\r\n" } ?? "") + "\r\n"
    }

    /// No credentials: 401 with the challenge, counted, and the connection
    /// kept for the retry with a token.
    @Test func missingTokenGets401AndTheConnectionStays() async throws {
        try await withServer(Self.bearer()) { server, port in
            let client = try await RawConnection.open(port: port)
            try await client.send(Self.request("/metrics"))
            let refused = try #require(await client.nextResponse(within: .seconds(5)))
            #expect(refused.status == 401)
            #expect(refused.headers["www-authenticate"] == "Bearer realm=\"wharf\"")
            #expect(refused.headers["connection"] == nil)
            try await client.send(Self.request("/metrics", authorization: "Bearer \(Self.token)"))
            let served = try #require(await client.nextResponse(within: .seconds(5)))
            #expect(served.status == 200)
            #expect(served.body.contains("wharf_http_requests_refused_total{reason=\"unauthorized\"} 1"))
            #expect(server.limitCounts.unauthorizedRequests == 1)
        }
    }

    /// A wrong token, another scheme, or a malformed header: all 401.
    @Test func wrongCredentialsGet401() async throws {
        try await withServer(Self.bearer()) { server, port in
            let client = try await RawConnection.open(port: port)
            for header in [
                "Bearer wrong", "Bearer \(Self.token)x", "Basic \(Data("u:\(Self.token)".utf8).base64EncodedString())", "Bearer",
                "s3cret-token",
            ] {
                try await client.send(Self.request("/api/v1/snapshot", authorization: header))
                #expect(await client.nextResponse(within: .seconds(5))?.status == 401, "\(header)")
            }
            #expect(server.limitCounts.unauthorizedRequests == 5)
        }
    }

    /// Health checks stay open by default, and need the token when told to;
    /// unknown paths need it either way (a 404 would tell what exists).
    @Test func healthChecksOpenUnlessClosed() async throws {
        try await withServer(Self.bearer()) { _, port in
            let client = try await RawConnection.open(port: port)
            for path in ["/healthz", "/readyz", "/readyz?verbose"] {
                try await client.send(Self.request(path))
                #expect(await client.nextResponse(within: .seconds(5))?.status == 200, "\(path)")
            }
            try await client.send(Self.request("/nothing"))
            #expect(await client.nextResponse(within: .seconds(5))?.status == 401)
        }
        try await withServer(Self.bearer(openHealthChecks: false)) { _, port in
            let client = try await RawConnection.open(port: port)
            try await client.send(Self.request("/healthz"))
            #expect(await client.nextResponse(within: .seconds(5))?.status == 401)
            try await client.send(Self.request("/healthz", authorization: "bearer \(Self.token)"))
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
        }
    }

    /// Basic auth: the challenge says Basic, and the decoded user and password reach the check.
    @Test func basicChallengeAndCredentials() async throws {
        let access = MetricsServer.Access(scheme: .basic) { $0 == .basic(user: "prometheus", password: Array("pa:ss".utf8)) }
        try await withServer(access) { _, port in
            let client = try await RawConnection.open(port: port)
            try await client.send(Self.request("/metrics"))
            #expect(await client.nextResponse(within: .seconds(5))?.headers["www-authenticate"] == "Basic realm=\"wharf\"")
            let good = Data("prometheus:pa:ss".utf8).base64EncodedString()
            try await client.send(Self.request("/metrics", authorization: "Basic \(good)"))
            #expect(await client.nextResponse(within: .seconds(5))?.status == 200)
        }
    }

    /// Pipelined requests, one refused between two served, are answered in order.
    @Test func pipelinedAnswersKeepTheirOrder() async throws {
        try await withServer(Self.bearer(openHealthChecks: false)) { _, port in
            let client = try await RawConnection.open(port: port)
            let good = "Bearer \(Self.token)"
            try await client.send(
                Self.request("/healthz", authorization: good) + Self.request("/healthz") + Self.request("/readyz", authorization: good))
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try #require(await client.nextResponse(within: .seconds(5))).status) }
            #expect(statuses == [200, 401, 200])
        }
    }

    @Test func authorizationHeaderParsing() {
        #expect(HTTPCredentials(authorization: "Bearer abc") == .bearer(token: Array("abc".utf8)))
        #expect(HTTPCredentials(authorization: "bEaReR   abc ") == .bearer(token: Array("abc".utf8)))
        let basic = Data("alice:pa:ss".utf8).base64EncodedString()
        #expect(HTTPCredentials(authorization: "Basic \(basic)") == .basic(user: "alice", password: Array("pa:ss".utf8)))
        #expect(HTTPCredentials(authorization: "Basic \(Data("alice:".utf8).base64EncodedString())") == .basic(user: "alice", password: []))
        #expect(HTTPCredentials(authorization: "Basic \(Data("no colon".utf8).base64EncodedString())") == nil)
        #expect(HTTPCredentials(authorization: "Basic !!!") == nil)
        #expect(HTTPCredentials(authorization: "Bearer") == nil)
        #expect(HTTPCredentials(authorization: "Digest x") == nil)
    }

    private func withServer(_ access: MetricsServer.Access, _ body: (MetricsServer, Int) async throws -> Void) async throws {
        let server = MetricsServer(
            logger: MetricsServerLimitsTests.quietLogger, snapshot: { PrometheusRendererTests.snapshot }, isReady: { true }, access: access
        )
        let port = try await server.start(host: "127.0.0.1", port: 0)
        do {
            try await body(server, port)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
