import Testing
import WharfMQTT

/// Packet-order rules for one connection (3.1.1 sections 3.1 and 4.8).
@Suite struct ConnectionStateMachineTests {
    private func connected() throws -> ConnectionStateMachine {
        var machine = ConnectionStateMachine()
        #expect(try machine.receive(.connect) == .handleConnect)
        machine.connectAccepted(version: .v3_1_1)
        return machine
    }

    /// A new connection waits for CONNECT.
    @Test func startsAwaitingConnect() {
        #expect(ConnectionStateMachine().state == .awaitingConnect)
    }

    /// Any first packet other than CONNECT is a violation and closes (section 3.1).
    @Test(arguments: PacketType.allCases.filter { $0 != .connect })
    func firstPacketMustBeConnect(_ type: PacketType) {
        var machine = ConnectionStateMachine()
        #expect(throws: ConnectionStateMachine.Violation.firstPacketNotConnect(type)) { try machine.receive(type) }
        #expect(machine.state == .closed)
    }

    /// CONNECT first moves to connecting; acceptance records the protocol level.
    @Test(arguments: [ProtocolVersion.v3_1, .v3_1_1])
    func connectThenAccepted(version: ProtocolVersion) throws {
        var machine = ConnectionStateMachine()
        #expect(try machine.receive(.connect) == .handleConnect)
        #expect(machine.state == .connecting)
        machine.connectAccepted(version: version)
        #expect(machine.state == .connected(version))
    }

    /// A second CONNECT is a protocol violation and closes (section 3.1).
    @Test func secondConnect() throws {
        var machine = try connected()
        #expect(try machine.receive(.publish) == .handlePacket)
        #expect(throws: ConnectionStateMachine.Violation.secondConnect) { try machine.receive(.connect) }
        #expect(machine.state == .closed)
    }

    /// Once connected, every packet type but CONNECT is handled.
    @Test(arguments: PacketType.allCases.filter { $0 != .connect })
    func connectedHandlesPackets(_ type: PacketType) throws {
        var machine = try connected()
        #expect(try machine.receive(type) == .handlePacket)
        #expect(machine.state == .connected(.v3_1_1))
    }

    /// Nothing may arrive between CONNECT and its answer.
    @Test func packetWhileConnecting() throws {
        var machine = ConnectionStateMachine()
        _ = try machine.receive(.connect)
        #expect(throws: ConnectionStateMachine.Violation.packetWhileConnecting(.pingreq)) { try machine.receive(.pingreq) }
        #expect(machine.state == .closed)
    }

    /// After close, every packet, CONNECT included, is ignored rather than processed.
    @Test(arguments: PacketType.allCases)
    func ignoredAfterClose(_ type: PacketType) throws {
        var machine = try connected()
        machine.close()
        #expect(try machine.receive(type) == .ignore)
        #expect(machine.state == .closed)
    }

    /// After a violation the connection is closed, so later packets are ignored, not re-reported.
    @Test func ignoredAfterViolation() throws {
        var machine = ConnectionStateMachine()
        #expect(throws: ConnectionStateMachine.Violation.firstPacketNotConnect(.subscribe)) { try machine.receive(.subscribe) }
        #expect(try machine.receive(.connect) == .ignore)
        #expect(try machine.receive(.publish) == .ignore)
    }

    /// Closing before any CONNECT also ignores the CONNECT that follows.
    @Test func closeBeforeConnect() throws {
        var machine = ConnectionStateMachine()
        machine.close()
        #expect(try machine.receive(.connect) == .ignore)
    }

    /// Keep-alive timeout is 1.5 x the client's value in milliseconds (section 3.1.2.10).
    @Test(arguments: [(1, 1_500), (2, 3_000), (10, 15_000), (60, 90_000), (65535, 98_302_500)] as [(UInt16, Int64)])
    func keepAliveTimeout(_ seconds: UInt16, _ milliseconds: Int64) {
        #expect(ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: seconds) == milliseconds)
    }

    /// Keep-alive 0 turns the timeout off (section 3.1.2.10).
    @Test func keepAliveZeroMeansNone() {
        #expect(ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: 0) == nil)
    }
}
