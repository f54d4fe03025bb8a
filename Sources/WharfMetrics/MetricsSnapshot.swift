/// One consistent reading of everything the broker measures.
///
/// The single source for both front ends: the Prometheus exporter renders it
/// as text, `/api/v1/snapshot` serves it as JSON, and `wharf top` reads that
/// JSON. Every figure is defined in docs/metrics.md. Optional fields are
/// unknown or not applicable at this moment and are left out, never sent as 0.
public struct MetricsSnapshot: Codable, Sendable, Equatable {
    public var version: String
    /// Unix time the broker started, in seconds.
    public var startTimeSeconds: Double
    /// Unix time this snapshot was taken, in seconds.
    public var takenAtSeconds: Double
    public var uptimeSeconds: Double
    public var connections: Connections
    public var sessions: Sessions
    public var subscriptions: Int
    public var retainedMessages: Int
    public var traffic: Traffic
    public var messages: Messages
    /// Broker-wide latency, every session included.
    public var latency: Latency
    /// Published messages per topic (capped) and per configured prefix.
    public var topics: Topics
    /// One entry per persistent session (its message queue).
    public var queues: [QueueSnapshot]
    /// One entry per connected client (JSON only: no Prometheus series per client).
    public var clients: [ClientSnapshot]
    /// One entry per consumer group (shared subscription).
    public var groups: [GroupSnapshot]
    /// The durable store; absent when the broker keeps everything in memory.
    public var storage: StorageSnapshot?
    /// The metrics HTTP listener; absent when it is off.
    public var http: HTTPListenerSnapshot?
    /// The MQTT listeners; absent where the snapshot is not taken by a
    /// serving broker (a library user's `Broker`).
    public var listeners: [ListenerSnapshot]?
    /// Refusals by `[auth] acl_file`, by action (`publish`, `subscribe`,
    /// `receive`); absent without an ACL.
    public var authorizationDeniedTotal: [String: Int]?
    /// Cluster mode; absent on a single node.
    public var cluster: ClusterSnapshot?

    public init(
        version: String, startTimeSeconds: Double, takenAtSeconds: Double, uptimeSeconds: Double,
        connections: Connections, sessions: Sessions, subscriptions: Int, retainedMessages: Int,
        traffic: Traffic, messages: Messages, latency: Latency, topics: Topics, queues: [QueueSnapshot],
        clients: [ClientSnapshot] = [], groups: [GroupSnapshot] = [], storage: StorageSnapshot? = nil
    ) {
        self.storage = storage
        self.version = version
        self.startTimeSeconds = startTimeSeconds
        self.takenAtSeconds = takenAtSeconds
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.sessions = sessions
        self.subscriptions = subscriptions
        self.retainedMessages = retainedMessages
        self.traffic = traffic
        self.messages = messages
        self.latency = latency
        self.topics = topics
        self.queues = queues
        self.clients = clients
        self.groups = groups
    }

    public struct Topics: Codable, Sendable, Equatable {
        /// Most topics that get their own entry (`topic_series_limit`).
        public var seriesLimit: Int
        /// Tracked topics, busiest first.
        public var topics: [TopicCounts]
        /// Everything published to topics beyond the limit (its name is empty).
        public var other: TopicCounts
        /// One entry per configured prefix (`topic_prefixes`).
        public var prefixes: [TopicCounts]

        public init(seriesLimit: Int, topics: [TopicCounts], other: TopicCounts, prefixes: [TopicCounts]) {
            self.seriesLimit = seriesLimit
            self.topics = topics
            self.other = other
            self.prefixes = prefixes
        }
    }

    public struct TopicCounts: Codable, Sendable, Equatable {
        public var name: String
        /// Messages published (accepted from clients and wills).
        public var messagesTotal: Int
        /// Their payload bytes.
        public var bytesTotal: Int
        /// A sample of a recent payload (at most one a second per topic): text
        /// when it is printable UTF-8, else hex; cut at 64 bytes.
        public var lastPayload: String?

        public init(name: String, messagesTotal: Int, bytesTotal: Int, lastPayload: String? = nil) {
            self.name = name
            self.messagesTotal = messagesTotal
            self.bytesTotal = bytesTotal
            self.lastPayload = lastPayload
        }
    }

    public struct Latency: Codable, Sendable, Equatable {
        /// PUBLISH read from the publisher to the copy written to a subscriber.
        public var publishToDeliver: LatencySnapshot
        /// PUBLISH read from the publisher to the subscriber's PUBACK (QoS 1) or PUBCOMP (QoS 2).
        public var publishToAcknowledge: LatencySnapshot

        public init(publishToDeliver: LatencySnapshot, publishToAcknowledge: LatencySnapshot) {
            self.publishToDeliver = publishToDeliver
            self.publishToAcknowledge = publishToAcknowledge
        }
    }

    public struct Connections: Codable, Sendable, Equatable {
        /// Open network connections (MQTT or not yet).
        public var current: Int
        public var maximum: Int
        /// Accepted TCP connections since start.
        public var acceptedTotal: Int
        /// CONNECTs refused, by CONNACK cause.
        public var rejectedTotal: [String: Int]
        /// Connections the broker closed, by cause.
        public var closedByServerTotal: [String: Int]

        public init(current: Int, maximum: Int, acceptedTotal: Int, rejectedTotal: [String: Int], closedByServerTotal: [String: Int]) {
            self.current = current
            self.maximum = maximum
            self.acceptedTotal = acceptedTotal
            self.rejectedTotal = rejectedTotal
            self.closedByServerTotal = closedByServerTotal
        }
    }

    public struct Sessions: Codable, Sendable, Equatable {
        public var online: Int
        public var offline: Int

        public init(online: Int, offline: Int) {
            self.online = online
            self.offline = offline
        }
    }

    public struct Traffic: Codable, Sendable, Equatable {
        /// Packets by lower-case type name (`publish`, `puback`, ...).
        public var packetsReceivedTotal: [String: Int]
        public var packetsSentTotal: [String: Int]
        /// Bytes on the wire, MQTT framing included.
        public var bytesReceivedTotal: Int
        public var bytesSentTotal: Int
        /// Packets that broke the protocol and closed their connection.
        public var malformedPacketsTotal: Int

        public init(
            packetsReceivedTotal: [String: Int], packetsSentTotal: [String: Int], bytesReceivedTotal: Int,
            bytesSentTotal: Int, malformedPacketsTotal: Int
        ) {
            self.packetsReceivedTotal = packetsReceivedTotal
            self.packetsSentTotal = packetsSentTotal
            self.bytesReceivedTotal = bytesReceivedTotal
            self.bytesSentTotal = bytesSentTotal
            self.malformedPacketsTotal = malformedPacketsTotal
        }
    }

    public struct Messages: Codable, Sendable, Equatable {
        /// PUBLISH packets accepted from clients (and wills).
        public var receivedTotal: Int
        /// Copies written to subscribers, resends included.
        public var deliveredTotal: Int
        /// Resends after a reconnect (DUP set).
        public var redeliveredTotal: Int
        /// Messages out of delivery attempts, sent to `$DLQ/<topic>`.
        public var deadLetteredTotal: Int
        /// Deliveries a 5.0 consumer refused (PUBACK/PUBREC >= 0x80); each is
        /// redelivered after a backoff or, out of attempts, dead-lettered.
        public var nackedTotal: Int
        /// Publishes not routed because their `wharf-msg-id` was a repeat.
        public var deduplicatedTotal: Int
        /// Times flow control paused a publisher's connection because a
        /// subscriber queue or consumer group was past its high-water mark.
        public var publisherPausesTotal: Int
        /// Times a client past `max_publish_rate` / `max_publish_bytes_rate`
        /// was read slower until back within them.
        public var publisherThrottlesTotal: Int = 0
        /// Copies not delivered, by reason.
        public var droppedTotal: [String: Int]
        public var payloadBytesReceivedTotal: Int
        public var payloadBytesDeliveredTotal: Int

        public init(
            receivedTotal: Int, deliveredTotal: Int, redeliveredTotal: Int, droppedTotal: [String: Int],
            payloadBytesReceivedTotal: Int, payloadBytesDeliveredTotal: Int, deadLetteredTotal: Int = 0,
            nackedTotal: Int = 0, deduplicatedTotal: Int = 0, publisherPausesTotal: Int = 0,
            publisherThrottlesTotal: Int = 0
        ) {
            self.publisherThrottlesTotal = publisherThrottlesTotal
            self.publisherPausesTotal = publisherPausesTotal
            self.deadLetteredTotal = deadLetteredTotal
            self.nackedTotal = nackedTotal
            self.deduplicatedTotal = deduplicatedTotal
            self.receivedTotal = receivedTotal
            self.deliveredTotal = deliveredTotal
            self.redeliveredTotal = redeliveredTotal
            self.droppedTotal = droppedTotal
            self.payloadBytesReceivedTotal = payloadBytesReceivedTotal
            self.payloadBytesDeliveredTotal = payloadBytesDeliveredTotal
        }
    }
}
