import WharfCore
import WharfMQTT

/// MQTT 5.0 topic aliases (section 3.3.2.3.4) of one connection, one table
/// per direction: the client's aliases for what it publishes, and ours for
/// what we send it. Aliases live and die with the network connection.
struct TopicAliases {
    /// Inbound: alias -> topic, as the client set them. Index 0 unused.
    private var inbound: [String?]
    /// Outbound: topic -> alias we assigned, up to the client's maximum.
    private var outbound: [ExactString: UInt16] = [:]
    private let outboundMaximum: Int

    init(inboundMaximum: Int, outboundMaximum: Int) {
        self.inbound = Array(repeating: nil, count: inboundMaximum + 1)
        self.outboundMaximum = outboundMaximum
    }

    enum InboundError: Error {
        /// 0, or above the maximum we announced: DISCONNECT 0x94.
        case invalidAlias(UInt16)
        /// An empty topic with an alias never set: DISCONNECT 0x82.
        case unknownAlias(UInt16)
        /// An empty topic without an alias: DISCONNECT 0x82.
        case missingTopic
    }

    /// The topic a PUBLISH stands for: sets the alias when it carries both,
    /// looks it up when the topic is empty.
    mutating func resolve(topic: String, alias: UInt16?) throws(InboundError) -> String {
        guard let alias else {
            guard !topic.isEmpty else { throw .missingTopic }
            return topic
        }
        guard alias != 0, Int(alias) < inbound.count else { throw .invalidAlias(alias) }
        if topic.isEmpty {
            guard let known = inbound[Int(alias)] else { throw .unknownAlias(alias) }
            return known
        }
        inbound[Int(alias)] = topic
        return topic
    }

    /// How to send `topic`: with a new alias (topic and alias both go out),
    /// an alias already known to the client (empty topic), or no alias.
    enum Outbound {
        case none
        case assign(UInt16)
        case use(UInt16)
    }

    /// Aliases are given to the first topics sent, up to the client's
    /// maximum, and kept for the connection: steady streams on a few topics
    /// (telemetry, quotes) are the case aliases pay for.
    func outbound(for topic: String) -> Outbound {
        guard outboundMaximum > 0 else { return .none }
        if let alias = outbound[ExactString(topic)] { return .use(alias) }
        return outbound.count < outboundMaximum ? .assign(UInt16(outbound.count + 1)) : .none
    }

    /// Records an alias once the PUBLISH that set it went out.
    mutating func assigned(_ alias: UInt16, to topic: String) {
        outbound[ExactString(topic)] = alias
    }
}
