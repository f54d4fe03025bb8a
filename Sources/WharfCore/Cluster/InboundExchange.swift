/// An inbound QoS 2 exchange of a session the cluster keeps (cluster mode):
/// one PUBLISH from the client, from its first arrival until PUBREL, on
/// whichever node the client sends it. The session's record holds it
/// before the message is routed, so a node the client sends the PUBLISH
/// again routes it under the same identity, and every copy that already
/// went (a stored forward, a queue entry, a node's local delivery) is
/// recognised and not sent twice (docs/cluster.md, "QoS 2 across nodes").
public struct InboundExchange: Sendable, Hashable {
    public var clientId: String
    /// The epoch of the connection it arrived on first: unique per claim.
    public var epoch: UInt64
    /// Numbers the exchanges of that connection, from 1.
    public var serial: UInt64

    public init(clientId: String, epoch: UInt64, serial: UInt64) {
        self.clientId = clientId
        self.epoch = epoch
        self.serial = serial
    }

    /// Its name in every node's table of exchanges seen: unique in the
    /// cluster (a client id holds no NUL, MQTT forbids it).
    public var key: String { "\(clientId)\u{0}\(epoch).\(serial)" }
}

/// An inbound QoS 2 exchange as a session's record holds it: the packet id
/// it awaits PUBREL under, its identity, and whether its message was
/// routed in full (a PUBLISH sent again is then only acknowledged).
public struct ClusterReceivedExchange: Sendable, Equatable {
    public var packetId: UInt16
    public var epoch: UInt64
    public var serial: UInt64
    public var routed: Bool

    public init(packetId: UInt16, epoch: UInt64, serial: UInt64, routed: Bool) {
        self.packetId = packetId
        self.epoch = epoch
        self.serial = serial
        self.routed = routed
    }
}
