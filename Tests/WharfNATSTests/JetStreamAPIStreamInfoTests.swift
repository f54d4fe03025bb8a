import Testing

@testable import WharfNATS

@Suite struct JetStreamAPIStreamInfoTests {
    @Test func decodesStateAndCluster() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamInfo)
        #expect(info.created == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:28.401753042Z"))
        let state = info.state
        #expect(state.messages == 5)
        #expect(state.bytes == 3282)
        #expect(state.firstSequence == 1)
        #expect(state.firstTime == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.293301308Z"))
        #expect(state.lastSequence == 5)
        #expect(state.lastTime == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.297878363Z"))
        #expect(state.numSubjects == 3)
        #expect(state.subjects == nil)
        #expect(state.numDeleted == 0)
        #expect(state.consumerCount == 0)
        let cluster = try #require(info.cluster)
        #expect(cluster.name == "wharfcap")
        #expect(cluster.leader == "n2")
        #expect(cluster.replicas.map(\.name) == ["n1", "n3"])
        #expect(cluster.replicas[0] == PeerInfo(name: "n1", current: true, active: .nanoseconds(1_306_126), peer: "fjFyEjc1"))
        #expect(!info.didCreate)
        #expect(!info.hasMoreSubjects)
    }

    @Test func subjectsFilterGivesPerSubjectCounts() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamInfoSubjects)
        #expect(info.state.subjects == ["wq.s.A": 3, "wq.s.B": 1, "wq.s.C": 1])
        #expect(info.total == 3)
        #expect(info.offset == 0)
        #expect(info.limit == 100_000)
        #expect(!info.hasMoreSubjects)
    }

    @Test func anEmptyStreamHasZeroTimes() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamCreate)
        #expect(info.didCreate)
        #expect(info.state.firstTime.isZero)
        #expect(info.state.lastTime.isZero)
        #expect(info.state.firstSequence == 0)
    }

    @Test func didCreateIsNotToBeTrusted() throws {
        // Clustered: the identical create is answered as a stream info, without did_create.
        #expect(try !decodeReply(StreamInfo.self, ServerReplies.streamCreateAgain).didCreate)
        // A single server says did_create again for the same identical create.
        #expect(try decodeReply(StreamInfo.self, ServerReplies.singleServerCreateAgain).didCreate)
        #expect(try decodeReply(StreamInfo.self, ServerReplies.singleServerCreateAgain).cluster == nil)
    }

    @Test func laggingAndOfflineReplicas() throws {
        let json = #"""
            {"name":"c","leader":"n1","replicas":[{"name":"n2","current":false,"active":1519602,"lag":1,"peer":"44jzkV9D"},\#
            {"name":"n3","current":false,"offline":true,"active":9000000000,"peer":"BXScrY9i"}]}
            """#
        let cluster = try decodeReply(ClusterInfo.self, json)
        #expect(cluster.replicas[0].lag == 1)
        #expect(!cluster.replicas[0].current)
        #expect(cluster.replicas[1].offline)
        #expect(cluster.replicas[1].active == .seconds(9))
        #expect(try roundTrip(cluster) == cluster)
    }

    @Test func updateRepliesAreStreamInfos() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamUpdate)
        #expect(info.config.maxBytes == 8192)
        #expect(info.state.messages == 1)
    }

    @Test func infoRoundTrips() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamInfoSubjects)
        #expect(try roundTrip(info) == info)
        let plain = try decodeReply(StreamInfo.self, ServerReplies.streamCreate)
        #expect(try roundTrip(plain) == plain)
    }

    @Test func infoRequestEncodesOnlyWhatIsAsked() throws {
        #expect(try encodedRequest(StreamInfoRequest()) == "{}")
        #expect(try encodedRequest(StreamInfoRequest(subjectsFilter: "wq.s.>")) == #"{"subjects_filter":"wq.s.>"}"#)
        let all = StreamInfoRequest(subjectsFilter: "wq.s.>", deletedDetails: true, offset: 100_000)
        #expect(try encodedRequest(all) == #"{"deleted_details":true,"offset":100000,"subjects_filter":"wq.s.>"}"#)
        #expect(try roundTrip(all) == all)
    }

    @Test func pagingTellsWhenSubjectsRemain() {
        var info = StreamInfo(
            config: StreamConfig(name: "S"), created: .zero, state: StreamState(subjects: ["a": 1, "b": 2]), total: 5, limit: 2)
        #expect(info.hasMoreSubjects)
        info.offset = 3
        #expect(!info.hasMoreSubjects)
    }
}
