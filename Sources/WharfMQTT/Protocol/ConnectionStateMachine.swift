/// Packet-order rules for one connection (3.1.1 sections 3.1 and 4.8),
/// kept apart from I/O so they can be tested on their own.
public struct ConnectionStateMachine: Sendable {
    public enum State: Sendable, Hashable {
        case awaitingConnect
        case connecting
        case connected(ProtocolVersion)
        case closed
    }

    /// Why a packet breaks the protocol at this point.
    public enum Violation: Error, Sendable, Hashable, CustomStringConvertible {
        case firstPacketNotConnect(PacketType)
        case secondConnect
        case packetWhileConnecting(PacketType)

        public var description: String {
            switch self {
            case .firstPacketNotConnect(let type): return "first packet is \(type), not CONNECT"
            case .secondConnect: return "second CONNECT on one connection"
            case .packetWhileConnecting(let type): return "\(type) received before the CONNECT was answered"
            }
        }
    }

    public enum Action: Sendable, Hashable {
        /// Authenticate and open the session, then call `connectAccepted` or close.
        case handleConnect
        /// Process the packet in the connected state.
        case handlePacket
        /// Already closing: drop the packet.
        case ignore
    }

    public private(set) var state: State = .awaitingConnect

    public init() {}

    public mutating func receive(_ type: PacketType) throws(Violation) -> Action {
        switch state {
        case .awaitingConnect:
            guard type == .connect else {
                state = .closed
                throw .firstPacketNotConnect(type)
            }
            state = .connecting
            return .handleConnect
        case .connecting:
            // The CONNECT is answered synchronously, so nothing may arrive in
            // between; kept as a state so an async authenticator fits later.
            state = .closed
            throw .packetWhileConnecting(type)
        case .connected:
            if type == .connect {
                state = .closed
                throw .secondConnect
            }
            return .handlePacket
        case .closed:
            return .ignore
        }
    }

    public mutating func connectAccepted(version: ProtocolVersion) {
        state = .connected(version)
    }

    public mutating func close() {
        state = .closed
    }

    /// The server closes a connection that sends nothing for one and a half
    /// keep-alive periods (3.1.1 section 3.1.2.10). 0 disables the timer.
    public static func keepAliveTimeoutMilliseconds(keepAlive seconds: UInt16) -> Int64? {
        seconds == 0 ? nil : Int64(seconds) * 1500
    }
}
