import Testing
import WharfTestSupport

@testable import WharfNATS

@Suite struct JetStreamAPIPullAndAckTests {
    @Test func pullRequestEncoding() throws {
        #expect(try encodedRequest(PullRequest()) == #"{"batch":1}"#)
        let long = PullRequest(batch: 64, expires: .seconds(30), idleHeartbeat: .seconds(5), maxBytes: 1 << 20)
        #expect(
            try encodedRequest(long) == #"{"batch":64,"expires":30000000000,"idle_heartbeat":5000000000,"max_bytes":1048576}"#)
        #expect(try encodedRequest(PullRequest(batch: 10, noWait: true)) == #"{"batch":10,"no_wait":true}"#)
        #expect(try roundTrip(long) == long)
        #expect(try decodeReply(PullRequest.self, "{}") == PullRequest())
    }

    @Test func ackBodies() {
        func text(_ kind: AckKind) -> String { String(decoding: kind.payload, as: UTF8.self) }
        #expect(text(.ack) == "+ACK")
        #expect(text(.nak(delay: nil)) == "-NAK")
        #expect(text(.nak(delay: .milliseconds(700))) == #"-NAK {"delay":700000000}"#)
        #expect(text(.inProgress) == "+WPI")
        #expect(text(.terminate) == "+TERM")
        #expect(text(.next(nil)) == "+NXT")
        #expect(text(.next(PullRequest(batch: 5))) == #"+NXT {"batch":5}"#)
    }
}

@Suite struct JetStreamAPIMetadataTests {
    @Test func parsesTheSubjectOf2_9_10() throws {
        let metadata = try #require(JetStreamMessageMetadata(replySubject: ServerReplies.pulledReplySubject))
        #expect(metadata.domain == nil)
        #expect(metadata.accountHash == nil)
        #expect(metadata.stream == "WHARF_Q_0")
        #expect(metadata.consumer == "g_1")
        #expect(metadata.delivered == 1)
        #expect(metadata.streamSequence == 1)
        #expect(metadata.consumerSequence == 1)
        #expect(metadata.timestamp == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.293301308Z"))
        #expect(metadata.pending == 2)
    }

    @Test func parsesTheFormWithDomainAndAccount() throws {
        let subject = "$JS.ACK.hub.ACCHASH.ORDERS.worker.3.100.42.1796490991293301308.7.r4nd0m"
        let metadata = try #require(JetStreamMessageMetadata(replySubject: subject))
        #expect(
            metadata
                == JetStreamMessageMetadata(
                    domain: "hub", accountHash: "ACCHASH", stream: "ORDERS", consumer: "worker", delivered: 3, streamSequence: 100,
                    consumerSequence: 42, timestamp: JetStreamTimestamp(nanosecondsSinceEpoch: 1_796_490_991_293_301_308),
                    pending: 7))
        let noDomain = try #require(JetStreamMessageMetadata(replySubject: "$JS.ACK._.H.S.C.1.2.3.4.5.r"))
        #expect(noDomain.domain == nil)
        #expect(noDomain.accountHash == "H")
        #expect(noDomain.pending == 5)
        // Eleven tokens (no random token) and later additions are accepted too.
        #expect(JetStreamMessageMetadata(replySubject: "$JS.ACK._.H.S.C.1.2.3.4.5") != nil)
        #expect(JetStreamMessageMetadata(replySubject: "$JS.ACK._.H.S.C.1.2.3.4.5.r.extra") != nil)
    }

    @Test func rejectsMalformedSubjects() {
        for subject in [
            "", "$JS.ACK", "$JS.ACK.S.C.1.2.3.4", "$JS.ACK.S.C.1.2.3.4.5.6", "$JS.NAK.S.C.1.2.3.4.5", "JS.ACK.S.C.1.2.3.4.5",
            "$JS.ACK..C.1.2.3.4.5", "$JS.ACK.S.C.1.2.3.4.", "$JS.ACK.S.C.x.2.3.4.5", "$JS.ACK.S.C.+1.2.3.4.5",
            "$JS.ACK.S.C.-1.2.3.4.5", "$JS.ACK.S.C. 1.2.3.4.5", "$JS.ACK.S.C.1.2.3.4.18446744073709551616",
            "$JS.ACK.S.C.1.2.3.9223372036854775808.5", "$JS.ACK.S.C.1.2.3.99999999999999999999999.5", "$js.ack.S.C.1.2.3.4.5",
            "$JS.ACK.S.C.１.2.3.4.5",
        ] {
            #expect(JetStreamMessageMetadata(replySubject: subject) == nil, "\(subject)")
        }
        #expect(JetStreamMessageMetadata(replySubject: "$JS.ACK.S.C.1.2.3.4.18446744073709551615")?.pending == .max)
    }

    @Test func neverTrapsOnHostileSubjects() {
        var random = FuzzRandom(seed: 0x4A53)
        let alphabet = Array("$JSACK._0123456789.x.-+ \u{0}".utf8) + [0xFF, 0xC3]
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes: [UInt8]
            if random.bool() {
                bytes = Array("$JS.ACK.".utf8)
                for token in 0..<random.int(0...14) {
                    if token > 0 { bytes.append(UInt8(ascii: ".")) }
                    bytes += (0..<random.int(0...4)).map { _ in random.pick(alphabet) }
                }
            } else {
                bytes = (0..<random.length(upTo: 200)).map { _ in random.pick(alphabet) }
            }
            if JetStreamMessageMetadata(replySubject: String(decoding: bytes, as: UTF8.self)) != nil { parsed += 1 }
        }
        #expect(parsed < 20_000)
    }
}
