import Atomics

/// One connected client as the Clients view shows it: who it is, where from,
/// since when, and its traffic totals.
///
/// The totals are written only by the client's connection, once per flush
/// (from its `TrafficBatch`), and read by snapshots on any thread: relaxed
/// loads and stores, no read-modify-write, because there is one writer.
public final class ClientInfo: Sendable {
    public let clientId: String
    public let address: String
    /// "3.1", "3.1.1" or "5.0".
    public let protocolVersion: String
    /// Unix time of the CONNECT.
    public let connectedAtSeconds: Double
    /// The listener it came in on (`scheme:port`) and whether over TLS;
    /// nil for a connection made without a listener (tests, embedded use).
    public let listener: String?
    public let tls: Bool

    private let messagesIn = ManagedAtomic<Int>(0)
    private let messagesOut = ManagedAtomic<Int>(0)
    private let bytesIn = ManagedAtomic<Int>(0)
    private let bytesOut = ManagedAtomic<Int>(0)

    public init(
        clientId: String, address: String, protocolVersion: String, connectedAtSeconds: Double, listener: String? = nil, tls: Bool = false
    ) {
        self.listener = listener
        self.tls = tls
        self.clientId = clientId
        self.address = address
        self.protocolVersion = protocolVersion
        self.connectedAtSeconds = connectedAtSeconds
    }

    /// Adds a flushed batch (the owning connection only).
    public func add(_ batch: TrafficBatch) {
        func bump(_ counter: ManagedAtomic<Int>, _ amount: Int) {
            guard amount != 0 else { return }
            counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
        }
        bump(messagesIn, batch.messagesIn)
        bump(messagesOut, batch.messagesOut)
        bump(bytesIn, batch.bytesIn)
        bump(bytesOut, batch.bytesOut)
    }

    public var totals: (messagesIn: Int, messagesOut: Int, bytesIn: Int, bytesOut: Int) {
        (
            messagesIn.load(ordering: .relaxed), messagesOut.load(ordering: .relaxed),
            bytesIn.load(ordering: .relaxed), bytesOut.load(ordering: .relaxed)
        )
    }
}
