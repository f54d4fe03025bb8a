import Testing
import WharfServer

/// `[[listener]]` tables: several listeners, each checked as a whole, with
/// errors naming the table and the key.
@Suite struct ListenerConfigTests {
    @Test func severalListenersInFileOrder() throws {
        let config = try ConfigFileLoader.parse(
            """
            [[listener]]
            port = 1883
            [[listener]]
            port = 8883
            tls_cert = "server.crt"
            tls_key = "server.key"
            [[listener]]
            port = 8084
            protocol = "websocket"
            websocket_path = "/ws"
            tls_cert = "/etc/wharf/server.crt"
            tls_key = "/etc/wharf/server.key"
            tls_ca = "ca.crt"
            use_identity_as_username = "san-email"
            """, file: "/etc/wharf/wharf.toml")
        #expect(config.listeners.map(\.scheme) == ["mqtt", "mqtts", "wss"])
        #expect(config.listeners.map(\.port) == [1883, 8883, 8084])
        #expect(config.listeners[1].tlsCert == "/etc/wharf/server.crt", "paths are relative to the config file")
        #expect(config.listeners[2].websocketPath == "/ws")
        #expect(config.listeners[2].useIdentityAsUsername == .email)
        #expect(config.listeners[2].requiresCertificate, "an identity needs a certificate")
        #expect(config.port == 1883, "--port sets the first")
    }

    @Test func theOldTableIsTheFirstListener() throws {
        let config = try ConfigFileLoader.parse("[listener]\nport = 2883\n", file: "w.toml")
        #expect(config.listeners.count == 1 && config.port == 2883 && config.listeners[0].scheme == "mqtt")
    }

    @Test func mistakesNameTheTableAndKey() {
        let cases: [(String, String)] = [
            ("[[listener]]\nport = 1\n[[listener]]\ntls_cert = \"a.crt\"\n", "listener[2].tls_key"),
            ("[[listener]]\ntls_ca = \"ca.crt\"\n", "listener[1].tls_ca"),
            ("[[listener]]\nrequire_certificate = true\ntls_cert = \"a\"\ntls_key = \"b\"\n", "listener[1].require_certificate"),
            ("[[listener]]\nprotocol = \"quic\"\n", "listener[1].protocol"),
            ("[[listener]]\nprotocol = \"websocket\"\nwebsocket_path = \"mqtt\"\n", "listener[1].websocket_path"),
            ("[[listener]]\nport = 1883\n[[listener]]\nport = 1883\n", "listener[2].port"),
            ("[[listener]]\ncertfile = \"a\"\n", "listener[1].certfile"),
        ]
        for (text, key) in cases {
            #expect {
                try ConfigFileLoader.parse(text, file: "w.toml")
            } throws: { error in
                (error as? ConfigFileError)?.key == key
            }
        }
    }
}
