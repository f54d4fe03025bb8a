import WharfCore
import WharfMQTT

extension MQTTConnectionHandler {
    /// Distinct topics and filters whose denial this connection logged; past
    /// it, denials are counted only, so a client cannot flood the log.
    static let maxLoggedDenials = 64

    /// The ACL's word on publishing to `topic`; the last topic's answer is
    /// kept (until a reload), as publishers mostly repeat their topic.
    func authorizesPublish(to topic: String) -> Bool {
        let generation = authorization!.policy.generation
        if let last = lastPublishCheck, last.generation == generation, last.topic == topic { return last.allowed }
        let allowed = authorization!.allows(.publish, topic: topic)
        lastPublishCheck = (topic, generation, allowed)
        return allowed
    }

    /// Counts a denial, and logs it once per action and topic (or filter)
    /// with the user and client id.
    func authorizationDenied(_ action: TopicAction, _ topic: String) {
        broker.metrics.authorizationDenied(action)
        guard loggedDenials.count < Self.maxLoggedDenials else { return }
        let key = "\(action.rawValue) \(topic)"
        guard loggedDenials.insert(key).inserted else { return }
        logger.warning(
            "not authorized to \(action.rawValue) \(ReasonString.excerpt(topic))",
            metadata: ["user": "\(ReasonString.excerpt(username ?? "(anonymous)"))"])
        if loggedDenials.count == Self.maxLoggedDenials {
            logger.warning("further denials for this client are counted but not logged")
        }
    }
}
