import NIOCore
import Testing

@testable import WharfNATS

@Suite struct NATSClientCommandTests {
    private func text(_ write: (inout ByteBuffer) throws -> Void) rethrows -> String {
        var buffer = ByteBuffer()
        try write(&buffer)
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    @Test func publishForms() throws {
        #expect(try text { try $0.writeNATSPublish(subject: "a.b", payload: ByteBuffer(string: "hi")) } == "PUB a.b 2\r\nhi\r\n")
        #expect(
            try text { try $0.writeNATSPublish(subject: "a", replyTo: "_INBOX.x.12", payload: ByteBuffer()) }
                == "PUB a _INBOX.x.12 0\r\n\r\n")
        var headers = NATSHeaders()
        headers.append("Nats-Msg-Id", "m1")
        let hpub = try text { try $0.writeNATSPublish(subject: "s", headers: headers, payload: ByteBuffer(string: "xyz")) }
        let block = "NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n"
        #expect(hpub == "HPUB s \(block.utf8.count) \(block.utf8.count + 3)\r\n\(block)xyz\r\n")
        #expect(headers.encodedCount == block.utf8.count)
    }

    @Test func subscribeAndUnsubscribe() throws {
        #expect(try text { try $0.writeNATSSubscribe(subject: "wq.>", sid: 12) } == "SUB wq.> 12\r\n")
        #expect(try text { try $0.writeNATSSubscribe(subject: "a.*.c", queue: "workers", sid: 3) } == "SUB a.*.c workers 3\r\n")
        #expect(text { $0.writeNATSUnsubscribe(sid: 3) } == "UNSUB 3\r\n")
        #expect(text { $0.writeNATSUnsubscribe(sid: 3, max: 1) } == "UNSUB 3 1\r\n")
        #expect(
            text {
                $0.writeNATSPing()
                $0.writeNATSPong()
            } == "PING\r\nPONG\r\n")
    }

    /// Nothing a caller passes can forge a second control line or header.
    @Test func injectionIsRefused() {
        for subject in ["", "a b", "a\r\nPUB x 1", "a..b", ".a", "a.", "a\tb", "a\u{7F}"] {
            #expect(throws: NATSProtocolError.self, "\(subject.debugDescription)") {
                var buffer = ByteBuffer()
                try buffer.writeNATSPublish(subject: subject, payload: ByteBuffer())
            }
        }
        for filter in ["a.>.b", "", "a..b", "a b"] {
            #expect(throws: NATSProtocolError.self, "\(filter.debugDescription)") {
                var buffer = ByteBuffer()
                try buffer.writeNATSSubscribe(subject: filter, sid: 1)
            }
        }
        #expect(throws: NATSProtocolError.self) {
            var buffer = ByteBuffer()
            try buffer.writeNATSPublish(subject: "ok", replyTo: "bad reply", payload: ByteBuffer())
        }
        for (name, value) in [("X\r\nY", "1"), ("X: Y", "1"), ("", "1"), ("X", "1\r\nNats-Msg-Id: forged")] {
            var headers = NATSHeaders()
            headers.append(name, value)
            #expect(throws: NATSProtocolError.self, "\(name.debugDescription): \(value.debugDescription)") {
                var buffer = ByteBuffer()
                try buffer.writeNATSPublish(subject: "s", headers: headers, payload: ByteBuffer())
            }
        }
    }

    @Test func wildcardBytesInsideATokenAreLiteral() throws {
        try NATSSubject.checkPublishable("a.b*.>c")
        try NATSSubject.checkFilter("a.*.>")
        try NATSSubject.checkFilter(">")
        // The JetStream API carries a filter inside a publish subject.
        try NATSSubject.checkPublishable("$JS.API.CONSUMER.CREATE.S.c.$KV.b.>")
    }

    /// What the encoder writes as HPUB, a server hands back as HMSG: the
    /// parser reads the same headers and payload.
    @Test func hpubRoundTripsThroughTheParser() throws {
        var headers = NATSHeaders()
        headers.append("Nats-Msg-Id", "abc:1")
        headers.append("Wharf-Topic", "a/b c")
        headers.append("Empty", "")
        var buffer = ByteBuffer()
        try buffer.writeNATSPublish(subject: "wq.s.k", replyTo: "r.1", headers: headers, payload: ByteBuffer(string: "p\r\nq"))
        let wire = String(decoding: buffer.readableBytesView, as: UTF8.self)
        #expect(wire.hasPrefix("HPUB wq.s.k r.1 "))
        var asServer = ByteBuffer(string: "HMSG wq.s.k 7" + wire.dropFirst("HPUB wq.s.k".count))
        var parser = NATSProtocolParser()
        guard case .message(let message) = try parser.parse(&asServer) else {
            Issue.record("no message")
            return
        }
        #expect(message.headers == headers)
        #expect(message.replyTo == "r.1")
        #expect(String(decoding: message.payload.readableBytesView, as: UTF8.self) == "p\r\nq")
        #expect(asServer.readableBytes == 0)
    }

    @Test func decimalWriter() {
        for value in [0, 7, 10, 99, 12345, Int(Int32.max), Int.max] {
            var buffer = ByteBuffer()
            buffer.writeDecimal(value)
            #expect(String(decoding: buffer.readableBytesView, as: UTF8.self) == String(value))
        }
    }

    @Test func serverAddresses() {
        #expect(NATSServerAddress(url: "nats://127.0.0.1:4223") == NATSServerAddress(host: "127.0.0.1", port: 4223))
        #expect(NATSServerAddress(url: "tls://u:p@nats.example:7422")?.tls == true)
        #expect(NATSServerAddress(url: "tls://u:p@nats.example:7422")?.password == "p")
        #expect(NATSServerAddress(url: "10.0.0.1:4222")?.host == "10.0.0.1")
        #expect(NATSServerAddress(url: "nats.example")?.port == 4222)
        #expect(NATSServerAddress(url: "[::1]:4222")?.host == "::1")
        for bad in ["http://x:1", "nats://:4222", "nats://h:0", "nats://h:99999", "nats://h:x", ""] {
            #expect(NATSServerAddress(url: bad) == nil, "\(bad)")
        }
    }

    @Test func serverPoolMergesAdvertisedServersAndRotates() {
        var pool = NATSServerPool([NATSServerAddress(host: "127.0.0.1", port: 1)], shuffle: false)
        pool.merge(connectURLs: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], tls: false)
        #expect(pool.entries.map(\.address.port) == [1, 2, 3])
        #expect(pool.next()?.address.port == 1)
        pool.connected(NATSServerAddress(host: "127.0.0.1", port: 1))
        #expect(pool.next()?.address.port == 2)
        // A server no longer advertised goes; the configured one stays.
        pool.merge(connectURLs: ["127.0.0.1:3"], tls: false)
        #expect(pool.entries.map(\.address.port) == [1, 3])
    }
}
