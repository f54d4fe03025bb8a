import Testing

@testable import WharfNATS

@Suite struct JetStreamAPIStreamConfigTests {
    /// The exact bytes sent to nats-server 2.9.10 in the experiment behind
    /// `ServerReplies`: each was accepted by STREAM.CREATE, and sending it
    /// again (also after restarting the cluster) succeeded instead of 10058.
    @Test func encodesWharfsStreamsAsSentInTheExperiment() throws {
        #expect(
            try encodedRequest(WharfAssets.sessionQueue)
                == #"{"allow_direct":true,"allow_rollup_hdrs":false,"deny_delete":false,"deny_purge":false,"#
                + #""description":"persistent session inboxes","discard":"new","discard_new_per_subject":true,"#
                + #""duplicate_window":120000000000,"max_age":0,"max_bytes":4096,"max_consumers":-1,"max_msg_size":-1,"#
                + #""max_msgs":-1,"max_msgs_per_subject":3,"mirror_direct":false,"name":"WHARF_Q_0","num_replicas":3,"#
                + #""retention":"limits","sealed":false,"storage":"file","subjects":["wq.s.>"]}"#)
        #expect(
            try encodedRequest(WharfAssets.nodeLeases)
                == #"{"allow_direct":true,"allow_rollup_hdrs":true,"deny_delete":true,"deny_purge":false,"discard":"new","#
                + #""max_age":10000000000,"max_bytes":-1,"max_consumers":-1,"max_msg_size":-1,"max_msgs":-1,"#
                + #""max_msgs_per_subject":1,"mirror_direct":false,"name":"KV_wharf_nodes","num_replicas":3,"#
                + #""retention":"limits","sealed":false,"storage":"file","subjects":["$KV.wharf_nodes.>"]}"#)
        #expect(
            try encodedRequest(WharfAssets.groupQueue)
                == #"{"allow_direct":false,"allow_rollup_hdrs":false,"deny_delete":false,"deny_purge":false,"discard":"new","#
                + #""discard_new_per_subject":true,"max_age":0,"max_bytes":-1,"max_consumers":-1,"max_msg_size":-1,"#
                + #""max_msgs":-1,"max_msgs_per_subject":1000,"mirror_direct":false,"name":"WHARF_G_default","#
                + #""num_replicas":3,"retention":"workqueue","sealed":false,"storage":"file","subjects":["wg.default.>"]}"#)
    }

    @Test func nilAndEmptyMembersAreLeftOut() throws {
        let object = try jsonObject(try encodedRequest(StreamConfig(name: "S")))
        #expect(object["description"] == nil)
        #expect(object["duplicate_window"] == nil)
        #expect(object["subjects"] == nil)
        #expect(object["discard_new_per_subject"] == nil)
        #expect(object["max_msgs"] as? Int == -1)
    }

    @Test func roundTrips() throws {
        for config in [
            WharfAssets.sessionQueue, WharfAssets.nodeInbox, WharfAssets.groupQueue, WharfAssets.sessionRecords,
            WharfAssets.nodeLeases,
            StreamConfig(
                name: "ALL", description: "every member", subjects: ["a.>", "b"], retention: .interest, maxConsumers: 7,
                maxMessages: 8, maxBytes: 9, maxAge: .milliseconds(1500), maxMessagesPerSubject: 10, maxMessageSize: 11,
                discard: .new, discardNewPerSubject: true, storage: .memory, replicas: 5, duplicateWindow: .seconds(1),
                allowDirect: true, mirrorDirect: true, allowRollupHeaders: true, denyDelete: true, denyPurge: true, sealed: true),
        ] {
            #expect(try roundTrip(config) == config)
        }
    }

    @Test func decodesWhatTheServerStored() throws {
        let info = try decodeReply(StreamInfo.self, ServerReplies.streamCreate)
        let config = info.config
        #expect(config.name == "WHARF_Q_0")
        #expect(config.description == "persistent session inboxes")
        #expect(config.subjects == ["wq.s.>"])
        #expect(config.retention == .limits)
        #expect(config.maxConsumers == -1)
        #expect(config.maxMessages == -1)
        #expect(config.maxBytes == 4096)
        #expect(config.maxAge == .zero)
        #expect(config.maxMessagesPerSubject == 3)
        #expect(config.maxMessageSize == -1)
        #expect(config.discard == .new)
        #expect(config.discardNewPerSubject)
        #expect(config.storage == .file)
        #expect(config.replicas == 3)
        #expect(config.duplicateWindow == .seconds(120))
        #expect(config.allowDirect)
        #expect(!config.mirrorDirect && !config.allowRollupHeaders && !config.denyDelete && !config.denyPurge && !config.sealed)
        // Everything we set came back as set: the stored config is ours.
        #expect(config == WharfAssets.sessionQueue)
    }

    @Test func theServerFillsInDefaultsOurTypeAlreadyHas() throws {
        // Sent: {"name":"TMP","max_age":60000000000}.
        let stored = try decodeReply(StreamInfo.self, ServerReplies.streamCreateMinimal).config
        #expect(stored.subjects == ["TMP"])
        #expect(stored.duplicateWindow == .seconds(60))
        #expect(stored.replicas == 1)
        let sent = StreamConfig(name: "TMP", maxAge: .seconds(60))
        #expect(sent.withServerDefaults() == stored)
        #expect(sent.reconcile(with: stored) == .unchanged)
    }

    @Test func eachWharfStreamReadsBackUnchanged() throws {
        let created: [(StreamConfig, String)] = [
            (WharfAssets.sessionQueue, ServerReplies.streamCreate),
            (WharfAssets.sessionQueue, ServerReplies.streamCreateAgain),
            (WharfAssets.nodeLeases, ServerReplies.streamCreateNodeLeases),
            (WharfAssets.nodeLeases, ServerReplies.streamCreateNodeLeasesAgain),
            (WharfAssets.nodeInbox, ServerReplies.streamCreateNodeInbox),
            (WharfAssets.groupQueue, ServerReplies.streamCreateGroupQueue),
            (WharfAssets.sessionRecords, ServerReplies.streamCreateSessionRecords),
        ]
        for (config, reply) in created {
            let stored = try decodeReply(StreamInfo.self, reply).config
            #expect(config.reconcile(with: stored) == .unchanged, "\(config.name)")
            #expect(config.withServerDefaults() == stored, "\(config.name)")
        }
    }

    @Test func serverDefaultsForTheDuplicateWindow() {
        #expect(StreamConfig(name: "S").withServerDefaults().duplicateWindow == .seconds(120))
        #expect(StreamConfig(name: "S", maxAge: .seconds(10)).withServerDefaults().duplicateWindow == .seconds(10))
        #expect(StreamConfig(name: "S", maxAge: .seconds(600)).withServerDefaults().duplicateWindow == .seconds(120))
        #expect(StreamConfig(name: "S", duplicateWindow: .zero).withServerDefaults().duplicateWindow == .seconds(120))
        let zeros = StreamConfig(
            name: "S", description: "", maxConsumers: 0, maxMessages: 0, maxBytes: 0, maxMessagesPerSubject: 0, maxMessageSize: 0,
            replicas: 0
        ).withServerDefaults()
        #expect(zeros == StreamConfig(name: "S", subjects: ["S"], duplicateWindow: .seconds(120)))
    }

    @Test func limitsThatCanChangeAreAnUpdate() {
        var wanted = WharfAssets.sessionQueue
        wanted.maxMessagesPerSubject = 5
        wanted.maxBytes = 8192
        wanted.description = nil
        #expect(
            wanted.reconcile(with: WharfAssets.sessionQueue)
                == .update(changed: ["description", "max_bytes", "max_msgs_per_subject"]))
        wanted = WharfAssets.sessionQueue
        wanted.replicas = 1
        wanted.subjects = ["wq.s.>", "wq.t.>"]
        #expect(wanted.reconcile(with: WharfAssets.sessionQueue) == .update(changed: ["subjects", "num_replicas"]))
    }

    @Test func whatTheServerWillNotUpdateIsAConflict() {
        var wanted = WharfAssets.sessionQueue
        wanted.storage = .memory
        wanted.retention = .workQueue
        wanted.maxBytes = 1
        #expect(wanted.reconcile(with: WharfAssets.sessionQueue) == .conflict(immutable: ["retention", "storage"]))

        wanted = WharfAssets.sessionRecords
        wanted.denyDelete = false
        #expect(wanted.reconcile(with: WharfAssets.sessionRecords) == .conflict(immutable: ["deny_delete"]))
        // Turning the protection on is an update.
        #expect(WharfAssets.sessionRecords.reconcile(with: wanted) == .update(changed: ["deny_delete"]))
    }

    @Test func decodingToleratesMissingMembers() throws {
        let config = try decodeReply(StreamConfig.self, #"{"name":"S","future_member":{"x":1}}"#)
        #expect(config == StreamConfig(name: "S"))
    }

    @Test func unknownPolicyIsADecodingError() {
        #expect(throws: JetStreamError.self) {
            try decodeReply(StreamConfig.self, #"{"name":"S","retention":"forever"}"#)
        }
    }
}
