// Replies of a real nats-server 2.9.10 (/usr/sbin/nats-server), captured
// verbatim with nats-py 2.16.0: three servers in an R3 cluster on 127.0.0.1
// (`-js --cluster_name ... --routes ...`), plus one single server where
// marked. The experiment also showed that the `StreamConfig` JSON our
// encoder writes for each `WharfAssets` stream is accepted by STREAM.CREATE,
// that sending it again succeeds (no 10058), and that it still succeeds
// after all three servers were restarted; while the restarted cluster had
// no meta leader yet, API requests got no reply at all (a timeout, not
// 10008).

/// Server texts for the decoding tests. Do not reformat: they are the exact
/// bytes the server sent.
enum ServerReplies {
    /// $JS.API.INFO on the R3 cluster before any stream existed.
    static let accountInfo = #"""
        {"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":0,"streams":0,"consumers":0,"limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},"api":{"total":0,"errors":0}}
        """#
    /// STREAM.CREATE.WHARF_Q_0 with exactly `WharfAssets.sessionQueue` as our encoder writes it.
    static let streamCreate = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"WHARF_Q_0","description":"persistent session inboxes","subjects":["wq.s.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":4096,"max_age":0,"max_msgs_per_subject":3,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:28.401753042Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":0,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":262820,"peer":"BXScrY9i"}]},"did_create":true}
        """#
    /// The same create again: success, answered as a stream info (paging members, no `did_create`).
    static let streamCreateAgain = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","total":0,"offset":0,"limit":0,"config":{"name":"WHARF_Q_0","description":"persistent session inboxes","subjects":["wq.s.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":4096,"max_age":0,"max_msgs_per_subject":3,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:28.401753042Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":248673,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":21702,"peer":"BXScrY9i"}]}}
        """#
    /// The same name with max_msgs_per_subject 5.
    static let streamCreateDifferent = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10058,"description":"stream name already in use with a different configuration"}}
        """#
    /// STREAM.CREATE of `WharfAssets.nodeLeases`: no duplicate window sent, so the server took max_age (10 s).
    static let streamCreateNodeLeases = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"KV_wharf_nodes","subjects":["$KV.wharf_nodes.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":10000000000,"max_msgs_per_subject":1,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":10000000000,"allow_direct":true,"mirror_direct":false,"sealed":false,"deny_delete":true,"deny_purge":false,"allow_rollup_hdrs":true},"created":"2026-12-05T17:16:30.488119254Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n1","replicas":[{"name":"n2","current":true,"active":2224,"peer":"44jzkV9D"},{"name":"n3","current":true,"active":279771,"peer":"BXScrY9i"}]},"did_create":true}
        """#
    /// The same create again.
    static let streamCreateNodeLeasesAgain = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","total":0,"offset":0,"limit":0,"config":{"name":"KV_wharf_nodes","subjects":["$KV.wharf_nodes.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":10000000000,"max_msgs_per_subject":1,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":10000000000,"allow_direct":true,"mirror_direct":false,"sealed":false,"deny_delete":true,"deny_purge":false,"allow_rollup_hdrs":true},"created":"2026-12-05T17:16:30.488119254Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n1","replicas":[{"name":"n2","current":true,"active":267482,"peer":"44jzkV9D"},{"name":"n3","current":true,"active":134645,"peer":"BXScrY9i"}]}}
        """#
    /// STREAM.CREATE of `WharfAssets.nodeInbox`.
    static let streamCreateNodeInbox = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"WHARF_N","subjects":["wn.q.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":120000000000,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:28.784643914Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n1","replicas":[{"name":"n2","current":true,"active":0,"peer":"44jzkV9D"},{"name":"n3","current":true,"active":257953,"peer":"BXScrY9i"}]},"did_create":true}
        """#
    /// STREAM.CREATE of `WharfAssets.groupQueue`.
    static let streamCreateGroupQueue = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"WHARF_G_default","subjects":["wg.default.\u003e"],"retention":"workqueue","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":1000,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":false,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:29.56778504Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":87990,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":254617,"peer":"BXScrY9i"}]},"did_create":true}
        """#
    /// STREAM.CREATE of `WharfAssets.sessionRecords`.
    static let streamCreateSessionRecords = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"KV_wharf_sess","subjects":["$KV.wharf_sess.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":1,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"sealed":false,"deny_delete":true,"deny_purge":false,"allow_rollup_hdrs":true},"created":"2026-12-05T17:16:29.979426472Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":545719,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":35668,"peer":"BXScrY9i"}]},"did_create":true}
        """#
    /// STREAM.CREATE.TMP with only name and max_age 60 s: every default the server fills in.
    static let streamCreateMinimal = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"TMP","subjects":["TMP"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":60000000000,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":1,"duplicate_window":60000000000,"allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:31.471700842Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2"},"did_create":true}
        """#
    /// A single (unclustered) server: the identical create again still says did_create.
    static let singleServerCreateAgain = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"WHARF_Q_0","description":"persistent session inboxes","subjects":["wq.s.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":4096,"max_age":0,"max_msgs_per_subject":3,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":1,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:31.478009855Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"did_create":true}
        """#
    /// STREAM.INFO.WHARF_Q_0 after five publishes.
    static let streamInfo = #"""
        {"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,"config":{"name":"WHARF_Q_0","description":"persistent session inboxes","subjects":["wq.s.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":4096,"max_age":0,"max_msgs_per_subject":3,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:28.401753042Z","state":{"messages":5,"bytes":3282,"first_seq":1,"first_ts":"2026-12-05T17:16:31.293301308Z","last_seq":5,"last_ts":"2026-12-05T17:16:31.297878363Z","num_subjects":3,"consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":1306126,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":1521655,"peer":"BXScrY9i"}]}}
        """#
    /// STREAM.INFO.WHARF_Q_0 with {"subjects_filter":"wq.s.>"}.
    static let streamInfoSubjects = #"""
        {"type":"io.nats.jetstream.api.v1.stream_info_response","total":3,"offset":0,"limit":100000,"config":{"name":"WHARF_Q_0","description":"persistent session inboxes","subjects":["wq.s.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":4096,"max_age":0,"max_msgs_per_subject":3,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,"discard_new_per_subject":true,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:28.401753042Z","state":{"messages":5,"bytes":3282,"first_seq":1,"first_ts":"2026-12-05T17:16:31.293301308Z","last_seq":5,"last_ts":"2026-12-05T17:16:31.297878363Z","num_subjects":3,"subjects":{"wq.s.A":3,"wq.s.B":1,"wq.s.C":1},"consumer_count":0},"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":690359,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":905888,"peer":"BXScrY9i"}]}}
        """#
    /// STREAM.INFO.NOPE.
    static let streamInfoNotFound = #"""
        {"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0}
        """#
    /// STREAM.UPDATE.MB raising max_bytes.
    static let streamUpdate = #"""
        {"type":"io.nats.jetstream.api.v1.stream_update_response","config":{"name":"MB","subjects":["mb.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":8192,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":3,"duplicate_window":120000000000,"allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},"created":"2026-12-05T17:16:31.60025301Z","state":{"messages":1,"bytes":3034,"first_seq":1,"first_ts":"2026-12-05T17:16:32.156441869Z","last_seq":1,"last_ts":"2026-12-05T17:16:32.156441869Z","num_subjects":1,"consumer_count":0},"cluster":{"name":"wharfcap","leader":"n1","replicas":[{"name":"n2","current":true,"active":903389,"peer":"44jzkV9D"},{"name":"n3","current":true,"active":936849,"peer":"BXScrY9i"}]}}
        """#
    /// STREAM.UPDATE.MB to memory storage.
    static let streamUpdateStorage = #"""
        {"type":"io.nats.jetstream.api.v1.stream_update_response","error":{"code":500,"err_code":10052,"description":"stream configuration update can not change storage type"}}
        """#
    /// STREAM.CREATE with max_bytes 2^62 on the cluster.
    static let streamCreateNoRoom = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10005,"description":"no suitable peers for placement, insufficient storage"}}
        """#
    /// The same on a single server.
    static let singleServerCreateNoRoom = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10047,"description":"insufficient storage resources available"}}
        """#
    /// duplicate_window 2 s above max_age 1 s.
    static let streamCreateBadDuplicateWindow = #"""
        {"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10052,"description":"duplicates window can not be larger then max age"}}
        """#
    /// STREAM.DELETE.TMP.
    static let streamDelete = #"""
        {"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true}
        """#
    /// STREAM.DELETE.NOPE.
    static let streamDeleteNotFound = #"""
        {"type":"io.nats.jetstream.api.v1.stream_delete_response","error":{"code":404,"err_code":10059,"description":"stream not found"}}
        """#
    /// Publish to wq.s.A with Nats-Msg-Id m1.
    static let publishAck = #"""
        {"stream":"WHARF_Q_0", "seq":1}
        """#
    /// The same publish again.
    static let publishAckDuplicate = #"""
        {"stream":"WHARF_Q_0", "seq":1,"duplicate": true}
        """#
    /// Nats-Expected-Last-Subject-Sequence 1 when the subject's last is 2.
    static let publishWrongLastSequence = #"""
        {"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"},"stream":"WHARF_Q_0","seq":0}
        """#
    /// A fourth message on wq.s.A (max_msgs_per_subject 3, discard_new_per_subject).
    static let publishMaxMessagesPerSubject = #"""
        {"error":{"code":503,"err_code":10077,"description":"maximum messages per subject exceeded"},"stream":"WHARF_Q_0","seq":0}
        """#
    /// 3,000 bytes into stream MB (max_bytes 4096, discard new) holding 3,034.
    static let publishMaxBytes = #"""
        {"error":{"code":503,"err_code":10077,"description":"maximum bytes exceeded"},"stream":"MB","seq":0}
        """#
    /// Nats-Expected-Stream OTHER.
    static let publishWrongStream = #"""
        {"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"WHARF_Q_0","seq":0}
        """#
    /// STREAM.MSG.GET {"seq":1}.
    static let messageGetSequence = #"""
        {"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"wq.s.A","seq":1,"hdrs":"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiBtMQ0KDQo=","data":"b25l","time":"2026-12-05T17:16:31.293301308Z"}}
        """#
    /// STREAM.MSG.GET {"last_by_subj":"wq.s.A"}.
    static let messageGetLast = #"""
        {"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"wq.s.A","seq":3,"hdrs":"TkFUUy8xLjANCk5hdHMtRXhwZWN0ZWQtTGFzdC1TdWJqZWN0LVNlcXVlbmNlOiAyDQoNCg==","data":"dGhyZWU=","time":"2026-12-05T17:16:31.29586649Z"}}
        """#
    /// STREAM.MSG.GET {"last_by_subj":"wq.s.Z"}.
    static let messageGetNotFound = #"""
        {"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}
        """#
    /// CONSUMER.CREATE.WHARF_Q_0.g_1.wq.s.A: an R3 durable pull consumer.
    static let consumerCreate = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"WHARF_Q_0","name":"g_1","created":"2026-12-05T17:16:31.302202869Z","config":{"durable_name":"g_1","name":"g_1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"filter_subject":"wq.s.A","replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":3},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":0,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":308998,"peer":"BXScrY9i"}]}}
        """#
    /// CONSUMER.CREATE.WHARF_Q_0.r_1.wq.s.B: R1 memory, backoff, inactive_threshold.
    static let consumerCreateEphemeral = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"WHARF_Q_0","name":"r_1","created":"2026-12-05T17:16:31.462821335Z","config":{"name":"r_1","deliver_policy":"all","ack_policy":"explicit","ack_wait":500000000,"max_deliver":3,"backoff":[500000000,1000000000],"filter_subject":"wq.s.B","replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"inactive_threshold":5000000000,"num_replicas":1,"mem_storage":true},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":1,"cluster":{"name":"wharfcap","leader":"n3"}}
        """#
    /// CONSUMER.CREATE.WHARF_Q_0.g_3 without filter or num_replicas.
    static let consumerCreateNoFilter = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"WHARF_Q_0","name":"g_3","created":"2026-12-05T17:16:32.162460935Z","config":{"durable_name":"g_3","name":"g_3","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0},"delivered":{"consumer_seq":0,"stream_seq":2},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"cluster":{"name":"wharfcap","leader":"n3","replicas":[{"name":"n1","current":true,"active":241468,"peer":"fjFyEjc1"},{"name":"n2","current":true,"active":0,"peer":"44jzkV9D"}]}}
        """#
    /// A durable sent to CONSUMER.CREATE.WHARF_Q_0.
    static let consumerCreateDurableOldForm = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10020,"description":"consumer expected to be ephemeral but a durable name was set in request"}}
        """#
    /// g_1 again with ack_policy all.
    static let consumerCreateChanged = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":500,"err_code":10012,"description":"ack policy can not be updated"}}
        """#
    /// CONSUMER.CREATE.WHARF_Q_0.g_2.wq.s.X with filter_subject wq.s.Y.
    static let consumerCreateFilterMismatch = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10131,"description":"Consumer create request did not match filtered subject from create subject"}}
        """#
    /// CONSUMER.INFO.WHARF_Q_0.g_1 with one message delivered and not yet acked.
    static let consumerInfo = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"WHARF_Q_0","name":"g_1","created":"2026-12-05T17:16:31.302202869Z","config":{"durable_name":"g_1","name":"g_1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"filter_subject":"wq.s.A","replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":3},"delivered":{"consumer_seq":1,"stream_seq":1,"last_active":"2026-12-05T17:16:31.464051739Z"},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":1,"num_redelivered":0,"num_waiting":0,"num_pending":2,"cluster":{"name":"wharfcap","leader":"n2","replicas":[{"name":"n1","current":true,"active":345577,"peer":"fjFyEjc1"},{"name":"n3","current":true,"active":80850,"peer":"BXScrY9i"}]}}
        """#
    /// CONSUMER.INFO.WHARF_Q_0.nope.
    static let consumerInfoNotFound = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}
        """#
    /// CONSUMER.DELETE.WHARF_Q_0.r_1.
    static let consumerDelete = #"""
        {"type":"io.nats.jetstream.api.v1.consumer_delete_response","success":true}
        """#
    /// STREAM.PURGE.WHARF_Q_0 {"filter":"wq.s.A","seq":3}.
    static let streamPurge = #"""
        {"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":2}
        """#

    /// The reply subject of the message a pull from g_1 delivered (stream seq 1, first delivery).
    static let pulledReplySubject = "$JS.ACK.WHARF_Q_0.g_1.1.1.1.1796490991293301308.2"
}
