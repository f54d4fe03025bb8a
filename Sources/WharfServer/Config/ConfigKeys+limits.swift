import WharfCore

/// `[limits]`: what one client, and all of them, may hold.
extension ConfigKeys {
    public enum Limits {
        public static let maxConnections = ConfigKey<ServerConfig>.int(
            "limits", "max_connections", 1...1_000_000, default: .value(10000),
            doc: "live connections; CONNECT beyond it gets return code 3",
            flag: .option("max-connections", "Live MQTT connections at most", note: "CONNECT beyond it gets return code 3")
        ) { $0.limits.maxConnections = $1 }
        public static let maxPacketSize = ConfigKey<ServerConfig>.int(
            "limits", "max_packet_size", 16...268_435_460, default: .value(1048576),
            doc: "bytes, whole packet; larger packets close the connection"
        ) { $0.limits.maxPacketSize = $1 }
        public static let maxInflightMessages = ConfigKey<ServerConfig>.int(
            "limits", "max_inflight_messages", 1...65_000, default: .value(20),
            doc: "QoS 1/2 messages sent to one client and not yet acknowledged"
        ) { $0.limits.maxInflightMessages = $1 }
        public static let maxQueuedMessages = ConfigKey<ServerConfig>.int(
            "limits", "max_queued_messages", 0...10_000_000, default: .value(1000),
            doc: "per session, while offline or behind a full window; overflow is dropped and counted; 0 = no limit (as in Mosquitto)"
        ) { $0.limits.maxQueuedMessages = $1 }
        public static let maxTopicLevels = ConfigKey<ServerConfig>.int(
            "limits", "max_topic_levels", 1...1024, default: .value(128),
            doc: "deeper filters get SUBACK 0x80; a deeper PUBLISH closes the connection"
        ) { $0.limits.maxTopicLevels = $1 }
        public static let connectTimeout = ConfigKey<ServerConfig>.int(
            "limits", "connect_timeout", 1...3600, default: .value(10), doc: "seconds a new connection has to send CONNECT"
        ) { $0.connectTimeoutSeconds = $1 }
        public static let receiveMaximum = ConfigKey<ServerConfig>.int(
            "limits", "receive_maximum", 1...65_535, default: .value(65535),
            doc: "5.0: QoS 2 messages a client may have awaiting PUBREL (told in CONNACK)"
        ) { $0.limits.receiveMaximum = $1 }
        public static let topicAliasMaximum = ConfigKey<ServerConfig>.int(
            "limits", "topic_alias_maximum", 0...65_535, default: .value(10), doc: "5.0: topic aliases a client may set; 0 = none"
        ) { $0.limits.topicAliasMaximum = $1 }
        public static let maxKeepAlive = ConfigKey<ServerConfig>.int(
            "limits", "max_keepalive", 0...65_535, default: .value(0), doc: "caps clients' keep-alive (5.0 clients are told); 0 = no cap"
        ) { $0.limits.maxKeepAlive = $1 }
        public static let maxPendingConnections = ConfigKey<ServerConfig>.int(
            "limits", "max_pending_connections", 1...1_000_000, default: .value(1000),
            doc: "sockets that have not sent CONNECT yet; past it a new one closes the oldest of them"
        ) { $0.maxPendingConnections = $1 }
        public static let maxFiltersPerSubscribe = ConfigKey<ServerConfig>.int(
            "limits", "max_filters_per_subscribe", 0...1_000_000, default: .value(1000),
            doc: "filters past it in one SUBSCRIBE get 0x97 (3.1.1: 0x80); 0 = no limit"
        ) { $0.limits.maxFiltersPerSubscribe = $1 }
        public static let maxSubscriptionsPerClient = ConfigKey<ServerConfig>.int(
            "limits", "max_subscriptions_per_client", 0...10_000_000, default: .value(10000),
            doc: "new filters past it get 0x97 (3.1.1: 0x80); 0 = no limit"
        ) { $0.limits.maxSubscriptionsPerClient = $1 }
        public static let maxConnectionsPerAddress = ConfigKey<ServerConfig>.int(
            "limits", "max_connections_per_address", 0...1_000_000, default: .value(0),
            doc: "sockets one source address may hold open; more are closed at accept; 0 = no limit"
        ) { $0.clientLimits.connectionsPerAddress = $1 }
        public static let connectionRatePerAddress = ConfigKey<ServerConfig>.number(
            "limits", "connection_rate_per_address", 0...1_000_000, default: .value(0),
            doc: "new sockets a second from one address (a second's worth at once); faster ones are closed at accept; 0 = no limit"
        ) { $0.clientLimits.connectionRatePerAddress = $1 }
        public static let maxPublishRate = ConfigKey<ServerConfig>.number(
            "limits", "max_publish_rate", 0...100_000_000, default: .value(0),
            doc:
                "PUBLISH packets a second per client; past it the client is read slower, a 5.0 one that keeps at it gets DISCONNECT 0x96; 0 = no limit"
        ) { $0.clientLimits.publishRate = $1 }
        public static let maxPublishBytesRate = ConfigKey<ServerConfig>.parsed(
            "limits", "max_publish_bytes_rate", default: .value("0"),
            doc: "PUBLISH bytes a second per client (like \"1MiB\"), enforced as max_publish_rate; \"0\" = no limit",
            expecting: "a size (like \"1MiB\")", parse: { $0 == "0" ? 0 : LocalLogOptions.parseSize($0) }
        ) { $0.clientLimits.publishBytesRate = $1 }

        static let section = ConfigSection(
            "limits",
            [
                maxConnections, maxPacketSize, maxInflightMessages, maxQueuedMessages, maxTopicLevels, connectTimeout,
                receiveMaximum, topicAliasMaximum, maxKeepAlive, maxPendingConnections, maxFiltersPerSubscribe, maxSubscriptionsPerClient,
                maxConnectionsPerAddress, connectionRatePerAddress, maxPublishRate, maxPublishBytesRate,
            ])
    }
}
