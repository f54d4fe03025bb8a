import Testing

@testable import WharfNATS

@Suite struct JetStreamAPISubjectTests {
    private let api = JetStreamAPISubject()

    @Test func streamSubjects() {
        #expect(api.accountInfo == "$JS.API.INFO")
        #expect(api.streamCreate("WHARF_Q_0") == "$JS.API.STREAM.CREATE.WHARF_Q_0")
        #expect(api.streamUpdate("S") == "$JS.API.STREAM.UPDATE.S")
        #expect(api.streamInfo("S") == "$JS.API.STREAM.INFO.S")
        #expect(api.streamDelete("S") == "$JS.API.STREAM.DELETE.S")
        #expect(api.streamPurge("S") == "$JS.API.STREAM.PURGE.S")
        #expect(api.streamMessageGet("S") == "$JS.API.STREAM.MSG.GET.S")
        #expect(api.directGet("S") == "$JS.API.DIRECT.GET.S")
        #expect(api.directGetLast("KV_wharf_sess", subject: "$KV.wharf_sess.abc") == "$JS.API.DIRECT.GET.KV_wharf_sess.$KV.wharf_sess.abc")
    }

    @Test func consumerSubjects() {
        #expect(api.consumerCreate("S", consumer: "g_1", filter: "wq.s.A") == "$JS.API.CONSUMER.CREATE.S.g_1.wq.s.A")
        #expect(api.consumerCreate("S", consumer: "g_1") == "$JS.API.CONSUMER.CREATE.S.g_1")
        #expect(api.consumerCreate("S", consumer: "g_1", filter: "") == "$JS.API.CONSUMER.CREATE.S.g_1")
        #expect(api.consumerInfo("S", consumer: "c") == "$JS.API.CONSUMER.INFO.S.c")
        #expect(api.consumerDelete("S", consumer: "c") == "$JS.API.CONSUMER.DELETE.S.c")
        #expect(api.consumerNext("S", consumer: "c") == "$JS.API.CONSUMER.MSG.NEXT.S.c")
    }

    @Test func consumerCreateSubjectFromItsConfig() {
        let durable = ConsumerConfig(durableName: "g_1", filterSubject: "wg.default.>")
        #expect(api.consumerCreate("S", config: durable) == "$JS.API.CONSUMER.CREATE.S.g_1.wg.default.>")
        let named = ConsumerConfig(name: "r_1")
        #expect(api.consumerCreate("S", config: named) == "$JS.API.CONSUMER.CREATE.S.r_1")
        #expect(api.consumerCreate("S", config: ConsumerConfig()) == nil)
    }

    @Test func prefixesForDomains() {
        #expect(JetStreamAPISubject(domain: "hub").streamInfo("S") == "$JS.hub.API.STREAM.INFO.S")
        #expect(JetStreamAPISubject(prefix: "$JS.x.API").accountInfo == "$JS.x.API.INFO")
        #expect(JetStreamAPISubject.defaultPrefix == "$JS.API")
    }

    @Test func validNames() {
        for name in ["WHARF_Q_0", "KV_wharf_sess", "g_ABCDEFGH234567", "a-b"] {
            #expect(JetStreamAPISubject.isValidName(name), "\(name)")
        }
        for name in ["", "a.b", "a*", "a>", "a b", "a\tb", "a/b", "a\\b", "a\u{7F}", String(repeating: "x", count: 256)] {
            #expect(!JetStreamAPISubject.isValidName(name), "\(name)")
        }
    }
}
