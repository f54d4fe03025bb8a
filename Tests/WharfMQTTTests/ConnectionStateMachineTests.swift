import Testing
import WharfMQTT

@Suite struct ConnectionStateMachineTests {
    /// The first packet must be CONNECT (section 3.1).
    @Test func firstPacketMustBeConnect() {
        var machine = ConnectionStateMachine()
        #expect(throws: ConnectionStateMachine.Violation.firstPacketNotConnect(.publish)) { try machine.receive(.publish) }
        #expect(machine.state == .closed)
    }

    /// A second CONNECT is a protocol violation (section 3.1.0).
    @Test func secondConnect() throws {
        var machine = ConnectionStateMachine()
        #expect(try machine.receive(.connect) == .handleConnect)
        machine.connectAccepted(version: .v3_1_1)
        #expect(try machine.receive(.publish) == .handlePacket)
        #expect(throws: ConnectionStateMachine.Violation.secondConnect) { try machine.receive(.connect) }
    }

    /// Nothing may arrive between CONNECT and its answer.
    @Test func packetWhileConnecting() throws {
        var machine = ConnectionStateMachine()
        _ = try machine.receive(.connect)
        #expect(throws: ConnectionStateMachine.Violation.packetWhileConnecting(.pingreq)) { try machine.receive(.pingreq) }
    }

    /// After close, packets are ignored rather than processed.
    @Test func ignoredAfterClose() throws {
        var machine = ConnectionStateMachine()
        _ = try machine.receive(.connect)
        machine.connectAccepted(version: .v3_1_1)
        machine.close()
        #expect(try machine.receive(.publish) == .ignore)
    }

    /// Keep-alive timeout is 1.5 x the client's value; 0 turns it off (section 3.1.2.10).
    @Test func keepAliveTimeout() {
        #expect(ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: 0) == nil)
        #expect(ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: 10) == 15_000)
        #expect(ConnectionStateMachine.keepAliveTimeoutMilliseconds(keepAlive: 65535) == 98_302_500)
    }
}
