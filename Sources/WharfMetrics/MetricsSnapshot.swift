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
    /// One entry per persistent session (its message queue).
    public var queues: [QueueSnapshot]

    public init(
        version: String, startTimeSeconds: Double, takenAtSeconds: Double, uptimeSeconds: Double,
        connections: Connections, sessions: Sessions, subscriptions: Int, retainedMessages: Int,
        traffic: Traffic, messages: Messages, queues: [QueueSnapshot]
    ) {
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
        self.queues = queues
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
        /// Copies not delivered, by reason.
        public var droppedTotal: [String: Int]
        public var payloadBytesReceivedTotal: Int
        public var payloadBytesDeliveredTotal: Int

        public init(
            receivedTotal: Int, deliveredTotal: Int, redeliveredTotal: Int, droppedTotal: [String: Int],
            payloadBytesReceivedTotal: Int, payloadBytesDeliveredTotal: Int
        ) {
            self.receivedTotal = receivedTotal
            self.deliveredTotal = deliveredTotal
            self.redeliveredTotal = redeliveredTotal
            self.droppedTotal = droppedTotal
            self.payloadBytesReceivedTotal = payloadBytesReceivedTotal
            self.payloadBytesDeliveredTotal = payloadBytesDeliveredTotal
        }
    }
}

/// A persistent session's queue at the moment of the snapshot.
public struct QueueSnapshot: Codable, Sendable, Equatable {
    /// The client id.
    public var name: String
    /// Connected consumers: 1 while the client is online, else 0.
    public var consumers: Int
    /// Messages waiting to be sent (ready).
    public var depth: Int
    /// Sent and not yet acknowledged (QoS 1/2).
    public var inflight: Int
    public var enqueuedTotal: Int
    public var deliveredTotal: Int
    public var acknowledgedTotal: Int
    /// Messages the consumer has not acknowledged yet: depth + inflight.
    public var lagMessages: Int
    /// Seconds since the oldest unacknowledged message was published; 0 when none.
    public var lagSeconds: Double
    /// Age of the oldest waiting message; absent when the queue is empty.
    public var oldestMessageAgeSeconds: Double?

    public init(
        name: String, consumers: Int, depth: Int, inflight: Int, enqueuedTotal: Int, deliveredTotal: Int,
        acknowledgedTotal: Int, lagMessages: Int, lagSeconds: Double, oldestMessageAgeSeconds: Double?
    ) {
        self.name = name
        self.consumers = consumers
        self.depth = depth
        self.inflight = inflight
        self.enqueuedTotal = enqueuedTotal
        self.deliveredTotal = deliveredTotal
        self.acknowledgedTotal = acknowledgedTotal
        self.lagMessages = lagMessages
        self.lagSeconds = lagSeconds
        self.oldestMessageAgeSeconds = oldestMessageAgeSeconds
    }
}
