import Crypto
import Foundation
import WharfCore
import WharfNATS

/// A consumer group's queue in JetStream: `wg.<group key>` in `WHARF_G`, one
/// subject per `$share/<group>/<filter>`, read through one durable pull
/// consumer that every node with members pulls from. The stream is a work
/// queue: an entry goes once a member acknowledged it (`+ACK`) or it was
/// dead-lettered or expired (`+TERM`); a node that dies holding entries
/// gives them back after the consumer's ack wait.
public enum GroupQueue {
    public static let stream = "WHARF_G"
    public static let subjects = "wg.>"

    /// The text every node keys the group by: what a member subscribed to.
    public static func shareText(name: String, filter: String) -> String { "$share/\(name)/\(filter)" }

    public static func subject(name: String, filter: String) -> String {
        "wg.\(ClusterNames.key(for: shareText(name: name, filter: filter)))"
    }

    /// The durable consumer's name: consumer names may not hold `.`, `*`
    /// or `>`, so a digest of the group's text rather than its key.
    public static func consumer(name: String, filter: String) -> String {
        let digest = SHA256.hash(data: Data(shareText(name: name, filter: filter).utf8))
        return "g_" + digest.prefix(20).map { String(format: "%02x", $0) }.joined()
    }

    /// The consumer every node asks for (the same config from each, so
    /// whoever comes first creates it and the rest find it). No delivery
    /// limit of JetStream's own: `max_delivery_attempts` is Wharf's, which
    /// dead-letters where JetStream would only raise an advisory.
    static func consumerConfig(name: String, filter: String, ackWait: Duration) -> ConsumerConfig {
        let consumer = consumer(name: name, filter: filter)
        return ConsumerConfig(
            durableName: consumer, description: "Wharf: consumer group \(shareText(name: name, filter: filter))",
            ackPolicy: .explicit, ackWait: ackWait, maxDeliver: -1, filterSubject: subject(name: name, filter: filter),
            maxAckPending: 20_000)
    }
}
