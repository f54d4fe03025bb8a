import Foundation
import Testing

@testable import WharfNATS

@Suite struct JetStreamAPIMessageTests {
    @Test func publishAcks() throws {
        #expect(try decodeReply(PublishAck.self, ServerReplies.publishAck) == PublishAck(stream: "WHARF_Q_0", sequence: 1))
        let duplicate = try decodeReply(PublishAck.self, ServerReplies.publishAckDuplicate)
        #expect(duplicate == PublishAck(stream: "WHARF_Q_0", sequence: 1, duplicate: true))
        let withDomain = PublishAck(stream: "S", sequence: 9, duplicate: true, domain: "hub")
        #expect(try encodedRequest(withDomain) == #"{"domain":"hub","duplicate":true,"seq":9,"stream":"S"}"#)
        #expect(try roundTrip(withDomain) == withDomain)
    }

    @Test func purge() throws {
        let request = StreamPurgeRequest(filter: "wq.s.A", sequence: 3)
        #expect(try encodedRequest(request) == #"{"filter":"wq.s.A","seq":3}"#)
        #expect(try encodedRequest(StreamPurgeRequest()) == "{}")
        #expect(try encodedRequest(StreamPurgeRequest(keep: 1)) == #"{"keep":1}"#)
        #expect(try roundTrip(request) == request)
        #expect(try decodeReply(StreamPurgeResponse.self, ServerReplies.streamPurge) == StreamPurgeResponse(success: true, purged: 2))
    }

    @Test func messageGetRequests() throws {
        #expect(try encodedRequest(StreamMessageGetRequest.sequence(1)) == #"{"seq":1}"#)
        #expect(try encodedRequest(StreamMessageGetRequest.last(subject: "wq.s.A")) == #"{"last_by_subj":"wq.s.A"}"#)
        let next = StreamMessageGetRequest.next(subject: "wq.s.A", from: 4)
        #expect(try encodedRequest(next) == #"{"next_by_subj":"wq.s.A","seq":4}"#)
        #expect(try roundTrip(next) == next)
    }

    @Test func storedMessageWithHeaders() throws {
        let message = try decodeReply(StreamMessageGetResponse.self, ServerReplies.messageGetSequence).message
        #expect(message.subject == "wq.s.A")
        #expect(message.sequence == 1)
        #expect(message.data == Data("one".utf8))
        #expect(message.time == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.293301308Z"))
        #expect(message.rawHeaders == Data("NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n".utf8))
        #expect(try message.headers()?["Nats-Msg-Id"] == "m1")

        let last = try decodeReply(StreamMessageGetResponse.self, ServerReplies.messageGetLast).message
        #expect(last.sequence == 3)
        #expect(last.data == Data("three".utf8))
        #expect(try last.headers()?["Nats-Expected-Last-Subject-Sequence"] == "2")
    }

    @Test func storedMessageWithoutHeadersOrData() throws {
        let json = #"{"message":{"subject":"s","seq":2,"time":"2026-12-05T17:16:31Z"}}"#
        let message = try decodeReply(StreamMessageGetResponse.self, json).message
        #expect(message.rawHeaders == nil)
        #expect(try message.headers() == nil)
        #expect(message.data.isEmpty)
        #expect(try roundTrip(message) == message)
        #expect(try encodedRequest(message) == #"{"seq":2,"subject":"s","time":"2026-12-05T17:16:31Z"}"#)
    }

    @Test func storedMessageRoundTrips() throws {
        let message = try decodeReply(StreamMessageGetResponse.self, ServerReplies.messageGetSequence)
        #expect(try roundTrip(message) == message)
    }

    @Test func badBase64IsADecodingError() {
        let json = #"{"message":{"subject":"s","seq":2,"data":"***","time":"2026-12-05T17:16:31Z"}}"#
        #expect(throws: JetStreamError.self) { try decodeReply(StreamMessageGetResponse.self, json) }
    }

    @Test func deleteReplies() throws {
        #expect(try decodeReply(StreamDeleteResponse.self, ServerReplies.streamDelete).success)
        #expect(try decodeReply(ConsumerDeleteResponse.self, ServerReplies.consumerDelete).success)
        #expect(try !decodeReply(StreamDeleteResponse.self, #"{"type":"t"}"#).success)
        #expect(try roundTrip(ConsumerDeleteResponse(success: true)) == ConsumerDeleteResponse(success: true))
    }

    @Test func accountInfo() throws {
        let info = try decodeReply(AccountInfo.self, ServerReplies.accountInfo)
        #expect(info == AccountInfo(memory: 0, storage: 0, streams: 0, consumers: 0))
        let used = AccountInfo(memory: 1, storage: 2, streams: 3, consumers: 4, domain: "hub")
        #expect(try roundTrip(used) == used)
    }
}
