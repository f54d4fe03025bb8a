import NIOCore
import Testing

@testable import WharfNATS

@Suite struct NATSProtocolParserTests {
    private func parseAll(_ text: String, parser: inout NATSProtocolParser) throws -> [NATSServerOperation] {
        var buffer = ByteBuffer(string: text)
        var operations: [NATSServerOperation] = []
        while let operation = try parser.parse(&buffer) { operations.append(operation) }
        return operations
    }

    @Test func pingPongOkAndError() throws {
        var parser = NATSProtocolParser()
        let operations = try parseAll("PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n", parser: &parser)
        #expect(operations.count == 4)
        guard case .error(let text) = operations[3] else { Issue.record("not an error"); return }
        #expect(text == "Authorization Violation")
    }
}
