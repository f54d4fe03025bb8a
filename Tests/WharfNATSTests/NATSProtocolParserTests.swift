import NIOCore
import Testing

@testable import WharfNATS

/// What a parser made of a stream, comparable across ways of feeding it.
struct ParseOutcome: Equatable, CustomStringConvertible {
    var operations: [String]
    var error: NATSProtocolError?
    var leftover: Int

    var description: String { "\(operations) error=\(String(describing: error)) leftover=\(leftover)" }
}

/// A stable text form of an operation, payload and headers included.
func summary(_ operation: NATSServerOperation) -> String {
    switch operation {
    case .info(let info): return "INFO \(info.serverID) \(info.maxPayload) \(info.connectURLs ?? [])"
    case .ping: return "PING"
    case .pong: return "PONG"
    case .ok: return "+OK"
    case .error(let text): return "-ERR \(text)"
    case .message(let message):
        let headers = message.headers.map { headers in
            "[\(headers.status.map(String.init) ?? "-") \(headers.statusDescription)|"
                + headers.fields.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "]"
        }
        return "MSG \(message.subject) \(message.sid) \(message.replyTo ?? "-") \(headers ?? "nil") "
            + String(decoding: message.payload.readableBytesView, as: UTF8.self)
    }
}

/// Feeds `bytes` in chunks whose sizes `chunk` picks; the outcome.
func parseInChunks(_ bytes: ByteBuffer, parser: NATSProtocolParser, chunk: (Int) -> Int) -> ParseOutcome {
    var parser = parser
    var pending = ByteBuffer()
    var source = bytes
    var operations: [String] = []
    while source.readableBytes > 0 {
        var piece = source.readSlice(length: min(max(1, chunk(source.readableBytes)), source.readableBytes))!
        pending.writeBuffer(&piece)
        do {
            while let operation = try parser.parse(&pending) { operations.append(summary(operation)) }
        } catch {
            return ParseOutcome(operations: operations, error: error, leftover: 0)
        }
    }
    return ParseOutcome(operations: operations, error: nil, leftover: pending.readableBytes)
}

func parseWhole(_ bytes: ByteBuffer, parser: NATSProtocolParser = NATSProtocolParser()) -> ParseOutcome {
    parseInChunks(bytes, parser: parser) { $0 }
}

@Suite struct NATSProtocolParserTests {
    private func parse(_ text: String, parser: NATSProtocolParser = NATSProtocolParser()) -> ParseOutcome {
        parseWhole(ByteBuffer(string: text), parser: parser)
    }

    @Test func pingPongOkAndError() {
        let outcome = parse("PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n")
        #expect(outcome.operations == ["PING", "PONG", "+OK", "-ERR Authorization Violation"])
        #expect(outcome.error == nil && outcome.leftover == 0)
    }

    @Test func operationNamesIgnoreCase() {
        #expect(parse("ping\r\nPong\r\nmsg a 1 2\r\nhi\r\n").operations == ["PING", "PONG", "MSG a 1 - nil hi"])
    }

    @Test func info() {
        let outcome = parse(
            #"INFO {"server_id":"NABC","server_name":"n1","version":"2.9.10","proto":1,"max_payload":1048576,"#
                + #""headers":true,"jetstream":true,"connect_urls":["127.0.0.1:4222","127.0.0.1:4223"],"unknown":{"x":1}}"#
                + "\r\n")
        #expect(outcome.operations == ["INFO NABC 1048576 [\"127.0.0.1:4222\", \"127.0.0.1:4223\"]"])
    }

    @Test func badInfoIsAnError() {
        guard case .malformedInfo = parse("INFO {not json}\r\n").error else {
            Issue.record("expected malformedInfo")
            return
        }
    }

    @Test func messagesWithAndWithoutReply() {
        let outcome = parse("MSG foo.bar 9 5\r\nhello\r\nMSG foo 10 _INBOX.x.1 0\r\n\r\n")
        #expect(outcome.operations == ["MSG foo.bar 9 - nil hello", "MSG foo 10 _INBOX.x.1 nil "])
    }

    @Test func payloadMayHoldCRLF() {
        #expect(parse("MSG a 1 4\r\n\r\n\r\n\r\n").operations == ["MSG a 1 - nil \r\n\r\n"])
    }

    @Test func headersAndStatus() {
        let headers = "NATS/1.0\r\nNats-Msg-Id: abc\r\nX: 1\r\nX: 2\r\n\r\n"
        let status = "NATS/1.0 404 No Messages\r\n\r\n"
        let heartbeat = "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n\r\n"
        let text =
            "HMSG s 3 \(headers.utf8.count) \(headers.utf8.count + 2)\r\n\(headers)hi\r\n"
            + "HMSG _INBOX.a.7 1 \(status.utf8.count) \(status.utf8.count)\r\n\(status)\r\n"
            + "HMSG hb 4 r \(heartbeat.utf8.count) \(heartbeat.utf8.count)\r\n\(heartbeat)\r\n"
        let outcome = parse(text)
        #expect(
            outcome.operations == [
                "MSG s 3 - [- |Nats-Msg-Id=abc,X=1,X=2] hi",
                "MSG _INBOX.a.7 1 - [404 No Messages|] ",
                "MSG hb 4 r [100 Idle Heartbeat|Nats-Last-Consumer=5] ",
            ])
        #expect(outcome.error == nil)
    }

    @Test func noRespondersStatusWithoutDescription() throws {
        var buffer = ByteBuffer(string: "HMSG _INBOX.a.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")
        var parser = NATSProtocolParser()
        guard case .message(let message) = try parser.parse(&buffer) else {
            Issue.record("no message")
            return
        }
        #expect(message.status == 503)
        #expect(message.headers?.statusDescription == "")
    }

    @Test func incompleteInputWaits() {
        for partial in ["PIN", "MSG a 1 5\r\nhel", "MSG a 1 5\r\nhello", "MSG a 1 5\r\nhello\r", "HMSG a 1 12 14\r\nNATS/1.0\r\n"] {
            let outcome = parse(partial)
            #expect(outcome.operations.isEmpty && outcome.error == nil, "\(partial.debugDescription)")
        }
    }

    @Test func malformedInputThrows() {
        let cases: [(String, (NATSProtocolError) -> Bool)] = [
            ("FOO\r\n", { if case .unknownOperation = $0 { return true } else { return false } }),
            ("MSG a\r\n", { if case .malformedControlLine = $0 { return true } else { return false } }),
            ("MSG a b 1\r\nx\r\n", { if case .malformedControlLine = $0 { return true } else { return false } }),
            ("MSG a 1 -1\r\n", { if case .malformedControlLine = $0 { return true } else { return false } }),
            ("MSG a 1 99999999999999999999999\r\n", { if case .malformedControlLine = $0 { return true } else { return false } }),
            ("MSG a 1 2\r\nhiXY", { $0 == .missingPayloadTerminator }),
            ("HMSG a 1 5 3\r\n", { if case .malformedControlLine = $0 { return true } else { return false } }),
            ("HMSG a 1 4 4\r\nHTTP\r\n", { if case .malformedHeaders = $0 { return true } else { return false } }),
            ("HMSG a 1 15 15\r\nNATS/1.0\r\nX:1\r\n\r\n", { if case .malformedHeaders = $0 { return true } else { return false } }),
        ]
        for (text, check) in cases {
            let outcome = parse(text)
            guard let error = outcome.error else {
                Issue.record("\(text.debugDescription) parsed as \(outcome)")
                continue
            }
            #expect(check(error), "\(text.debugDescription): \(error)")
        }
    }

    @Test func limitsRefuseBeforeBuffering() {
        var parser = NATSProtocolParser(maxControlLine: 32, maxPayload: 10)
        #expect(parse("MSG a 1 11\r\n", parser: parser).error == .payloadTooLarge(size: 11, limit: 10))
        // A control line with no end is refused once past the limit, however it arrives.
        let long = String(repeating: "x", count: 40)
        #expect(parse(long, parser: parser).error == .controlLineTooLong(limit: 32))
        parser.maxControlLine = 64
        #expect(parse(long, parser: parser).error == nil)
    }

    @Test func repeatedSubjectIsTheSameString() throws {
        var parser = NATSProtocolParser()
        var buffer = ByteBuffer(string: "MSG wn.c.a-node-with-a-long-name 1 1\r\nx\r\nMSG wn.c.a-node-with-a-long-name 1 1\r\ny\r\n")
        guard case .message(let first) = try parser.parse(&buffer), case .message(let second) = try parser.parse(&buffer)
        else {
            Issue.record("no messages")
            return
        }
        #expect(first.subject == second.subject)
        #expect(
            first.subject.utf8.withContiguousStorageIfAvailable { $0.baseAddress }
                == second.subject.utf8.withContiguousStorageIfAvailable { $0.baseAddress })
    }
}
