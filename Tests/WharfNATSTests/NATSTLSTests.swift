import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing
import WharfTestSupport

@testable import WharfNATS

/// TLS to NATS (cluster mode's `tls_ca`): the upgrade after INFO, the
/// server's certificate checked against the CA we are given.
@Suite(.timeLimit(.minutes(1))) struct NATSTLSTests {
    /// A CA and a server certificate for 127.0.0.1, made by openssl.
    static func makeCertificates(in directory: String) throws {
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' > ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile ext 2>/dev/null
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other 2>/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl failed")
    }

    static func options(_ url: String, trusting ca: String) throws -> NATSConnectionOptions {
        var options = try NATSConnectionOptions(urls: [url])
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        options.tls = tls
        options.maxConnectRounds = 1
        options.reconnectWait = .milliseconds(50)
        return options
    }

    @Test func talksOverTLSAndRefusesAServerFromAnotherCA() async throws {
        let directory = NSTemporaryDirectory() + "wharf-nats-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.makeCertificates(in: directory)
        let server = try NATSTestCluster.start(
            servers: 1, jetStream: false,
            extraConfig: "tls { cert_file: \"\(directory)/server.crt\", key_file: \"\(directory)/server.key\" }")
        defer { server.shutdown() }
        let url = server.clientURLs[0]
        let loop = MultiThreadedEventLoopGroup.singleton.next()

        let connection = try NATSConnection(options: try Self.options(url, trusting: "\(directory)/ca.crt"), eventLoop: loop)
        try await connection.waitUntilConnected()
        #expect(connection.serverInfo?.tlsRequired == true)
        let publisher = try NATSConnection(options: try Self.options(url, trusting: "\(directory)/ca.crt"), eventLoop: loop)
        try await publisher.waitUntilConnected()
        // Two connections: a connection does not hear its own publishes (echo off).
        let received = Inbox<String>()
        _ = try connection.subscribe("tls.test") { received.add(String(buffer: $0.payload)) }
        _ = try await connection.flush()
        try publisher.publish("tls.test", payload: ByteBuffer(string: "secret"))
        #expect(try await received.wait(for: 1) == ["secret"])
        await connection.close()
        await publisher.close()

        // A certificate our CA did not sign: the handshake fails, no connection.
        let refused = try NATSConnection(options: try Self.options(url, trusting: "\(directory)/other.crt"), eventLoop: loop)
        await #expect(throws: NATSError.self) { try await refused.waitUntilConnected() }
        #expect(refused.statistics.lastError?.isEmpty == false)
    }
}
