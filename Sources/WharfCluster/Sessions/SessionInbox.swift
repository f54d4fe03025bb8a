import WharfCore
import WharfMQTT
import WharfNATS

/// A persistent session's queue in JetStream: `wq.s.<client id key>` in
/// `WHARF_Q`, one subject per session, so the queue outlives the node that
/// delivers it and any node can resume it.
///
/// Each entry is one message for one session: the message as an envelope
/// (`ClusterEnvelope`, as forwards carry it), and in NATS headers how the
/// session gets it (`InboxDelivery`: the QoS its subscriptions granted, the
/// retain flag as delivered, the subscription identifiers), worked out by
/// the publishing node, which matched the topic against the session's
/// subscriptions. An entry stays until the session acknowledged it: the
/// node delivering the session deletes each entry it read once it is below
/// the oldest message it still holds (`deleteAcknowledged`), so what is
/// left after a crash is what was not acknowledged. Deletes, one per
/// entry, never a purge (`deleteInboxEntries` says why).
public enum SessionInbox {
    public static let stream = "WHARF_Q"
    public static let subjects = "wq.s.>"

    public static func subject(for clientId: String) -> String { "wq.s.\(ClusterNames.key(for: clientId))" }

    static let qosHeader = "Wharf-QoS"
    static let retainHeader = "Wharf-Retain"
    static let identifiersHeader = "Wharf-Sub-Ids"

    public static func headers(_ delivery: InboxDelivery) -> NATSHeaders {
        var headers = NATSHeaders()
        headers.append(qosHeader, String(delivery.qos.rawValue))
        if delivery.retain { headers.append(retainHeader, "1") }
        let ids = delivery.identifiers.values
        if !ids.isEmpty { headers.append(identifiersHeader, ids.map(String.init).joined(separator: ",")) }
        return headers
    }

    /// Nil for headers no node of this version wrote (counted by the
    /// reader as a bad entry, never trapped on).
    public static func delivery(in headers: NATSHeaders?) -> InboxDelivery? {
        guard let headers, let qos = headers[qosHeader].flatMap(UInt8.init).flatMap(QoS.init(rawValue:)) else { return nil }
        var identifiers = SubscriptionIdentifiers.none
        if let text = headers[identifiersHeader] {
            var ids: [UInt32] = []
            for part in text.split(separator: ",") {
                guard let id = UInt32(part), id > 0 else { return nil }
                ids.append(id)
            }
            identifiers = ids.count == 1 ? .one(ids[0]) : .many(ids)
        }
        return InboxDelivery(qos: qos, retain: headers[retainHeader] == "1", identifiers: identifiers)
    }
}
