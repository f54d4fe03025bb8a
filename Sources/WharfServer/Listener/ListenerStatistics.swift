import Atomics
import WharfMetrics

/// One listener as its connections and the snapshot see it: its name and
/// kind, the TLS context, and its counts (atomics: every event loop updates
/// them, snapshots read them from anywhere).
public final class ListenerStatistics: Sendable {
    /// Why a socket was refused before MQTT began.
    public enum Refusal: String, Sendable, CaseIterable {
        /// No TLS, an old protocol version, or a client certificate missing,
        /// expired or not signed by `tls_ca`.
        case tlsHandshake = "tls_handshake"
        /// Another path, no `mqtt` subprotocol, or plain HTTP.
        case websocketHandshake = "websocket_handshake"
    }

    public let config: ListenerConfig
    /// Set when the listener uses TLS.
    public let tls: ListenerTLS?
    private let port = ManagedAtomic<Int>(0)
    private let open = ManagedAtomic<Int>(0)
    private let accepted = ManagedAtomic<Int>(0)
    private let refusals = Refusal.allCases.map { _ in ManagedAtomic<Int>(0) }

    public init(config: ListenerConfig) throws(TLSSetupError) {
        self.config = config
        self.tls = config.usesTLS ? try ListenerTLS(listener: config) : nil
        port.store(config.port, ordering: .relaxed)
    }

    /// `scheme:port`: how the snapshot, the metrics and the dashboard name it.
    public var name: String { "\(config.scheme):\(port.load(ordering: .relaxed))" }

    func bound(to port: Int) { self.port.store(port, ordering: .relaxed) }

    func opened() {
        open.wrappingIncrement(ordering: .relaxed)
        accepted.wrappingIncrement(ordering: .relaxed)
    }

    func closed() { open.wrappingDecrement(ordering: .relaxed) }

    func refused(_ reason: Refusal) { refusals[Refusal.allCases.firstIndex(of: reason) ?? 0].wrappingIncrement(ordering: .relaxed) }

    public var snapshot: ListenerSnapshot {
        var refused: [String: Int] = [:]
        for (reason, count) in zip(Refusal.allCases, refusals) { refused[reason.rawValue] = count.load(ordering: .relaxed) }
        return ListenerSnapshot(
            name: name, transport: config.transport.rawValue, tls: config.usesTLS, bind: config.bind, port: port.load(ordering: .relaxed),
            connections: open.load(ordering: .relaxed), acceptedTotal: accepted.load(ordering: .relaxed), refusedTotal: refused)
    }
}
