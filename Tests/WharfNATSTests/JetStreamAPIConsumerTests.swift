import Testing

@testable import WharfNATS

@Suite struct JetStreamAPIConsumerTests {
    /// Cluster mode's group consumer (cluster-design 5.2): R3 durable pull,
    /// explicit ack, 30 s ack wait, no delivery limit.
    private let groupConsumer = ConsumerConfig(
        name: "g_1", durableName: "g_1", ackWait: .seconds(30), maxDeliver: -1, filterSubject: "wq.s.A", replicas: 3)

    /// These exact bytes were sent to the 2.9.10 R3 cluster of
    /// `ServerReplies`: CONSUMER.CREATE.WHARF_Q_0.g_1.wq.s.A accepted them,
    /// also when g_1 already existed (the server fills its defaults into
    /// the request before comparing), and so did a fresh g_9 created twice.
    @Test func encodesOnlyWhatIsSet() throws {
        let request = ConsumerCreateRequest(streamName: "WHARF_Q_0", config: groupConsumer)
        #expect(
            try encodedRequest(request)
                == #"{"config":{"ack_policy":"explicit","ack_wait":30000000000,"deliver_policy":"all","durable_name":"g_1","#
                + #""filter_subject":"wq.s.A","max_deliver":-1,"name":"g_1","num_replicas":3,"replay_policy":"instant"},"#
                + #""stream_name":"WHARF_Q_0"}"#)
    }

    @Test func roundTripsEveryMember() throws {
        let config = ConsumerConfig(
            name: "c", durableName: "c", description: "all of it", deliverPolicy: .byStartTime, optStartSequence: 7,
            optStartTime: JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.5Z"), ackPolicy: .all, ackWait: .seconds(3),
            maxDeliver: 5, backoff: [.milliseconds(500), .seconds(1)], filterSubject: "a.>", replayPolicy: .original,
            maxWaiting: 9, maxAckPending: 10, maxBatch: 11, maxExpires: .seconds(12), inactiveThreshold: .seconds(13), replicas: 1,
            memoryStorage: true, headersOnly: true, idleHeartbeat: .seconds(14), flowControl: true, deliverSubject: "deliver.c")
        #expect(try roundTrip(config) == config)
        let request = ConsumerCreateRequest(streamName: "S", config: config)
        #expect(try roundTrip(request) == request)
        #expect(try roundTrip(ConsumerConfig()) == ConsumerConfig())
    }

    @Test func policiesUseTheServersNames() throws {
        let names: [(DeliverPolicy, String)] = [
            (.all, "all"), (.last, "last"), (.new, "new"), (.byStartSequence, "by_start_sequence"),
            (.byStartTime, "by_start_time"), (.lastPerSubject, "last_per_subject"),
        ]
        for (policy, name) in names { #expect(policy.rawValue == name) }
        #expect([AckPolicy.none, .all, .explicit].map(\.rawValue) == ["none", "all", "explicit"])
        #expect([ReplayPolicy.instant, .original].map(\.rawValue) == ["instant", "original"])
    }

    @Test func decodesADurableAndTheDefaultsTheServerAdded() throws {
        let info = try decodeReply(ConsumerInfo.self, ServerReplies.consumerCreate)
        #expect(info.streamName == "WHARF_Q_0")
        #expect(info.name == "g_1")
        #expect(info.created == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.302202869Z"))
        var expected = groupConsumer
        expected.maxWaiting = 512
        expected.maxAckPending = 1000
        #expect(info.config == expected)
        #expect(info.delivered == SequenceInfo())
        #expect(info.ackFloor == SequenceInfo())
        #expect(info.numAckPending == 0)
        #expect(info.numRedelivered == 0)
        #expect(info.numWaiting == 0)
        #expect(info.numPending == 3)
        #expect(info.cluster?.leader == "n2")
        #expect(info.cluster?.replicas.count == 2)
        #expect(!info.pushBound)
    }

    @Test func decodesAnEphemeralReader() throws {
        let info = try decodeReply(ConsumerInfo.self, ServerReplies.consumerCreateEphemeral)
        let config = info.config
        #expect(config.name == "r_1")
        #expect(config.durableName == nil)
        #expect(config.backoff == [.milliseconds(500), .seconds(1)])
        // With a backoff the server sets ack_wait to its first step.
        #expect(config.ackWait == .milliseconds(500))
        #expect(config.maxDeliver == 3)
        #expect(config.inactiveThreshold == .seconds(5))
        #expect(config.replicas == 1)
        #expect(config.memoryStorage)
        #expect(config.filterSubject == "wq.s.B")
        #expect(info.cluster == ClusterInfo(name: "wharfcap", leader: "n3"))
    }

    @Test func noReplicaCountMeansTheStreams() throws {
        let info = try decodeReply(ConsumerInfo.self, ServerReplies.consumerCreateNoFilter)
        #expect(info.config.replicas == 0)
        #expect(info.config.filterSubject == nil)
        #expect(info.delivered.streamSequence == 2)
    }

    @Test func decodesProgress() throws {
        let info = try decodeReply(ConsumerInfo.self, ServerReplies.consumerInfo)
        #expect(info.delivered.consumerSequence == 1)
        #expect(info.delivered.streamSequence == 1)
        #expect(info.delivered.lastActive == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.464051739Z"))
        #expect(info.ackFloor.lastActive == nil)
        #expect(info.numAckPending == 1)
        #expect(info.numPending == 2)
        #expect(try roundTrip(info) == info)
    }

    @Test func missingAckPolicyMeansNone() throws {
        #expect(try decodeReply(ConsumerConfig.self, "{}").ackPolicy == AckPolicy.none)
        #expect(ConsumerConfig().ackPolicy == .explicit)
    }
}
