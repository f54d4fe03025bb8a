/// The MQTT 5.0 subscription identifiers a delivery carries: those of every
/// subscription of the session that matched (section 3.3.4). One inline
/// value for the usual case, so routing allocates nothing for it.
public enum SubscriptionIdentifiers: Sendable, Hashable {
    case none
    case one(UInt32)
    case many([UInt32])

    public init(_ identifier: UInt32?) {
        self = identifier.map { .one($0) } ?? .none
    }

    public var values: [UInt32] {
        switch self {
        case .none: return []
        case .one(let id): return [id]
        case .many(let ids): return ids
        }
    }

    public var isEmpty: Bool {
        if case .none = self { return true }
        return false
    }

    /// Both sets, for a session whose several filters match one topic.
    func merged(with other: SubscriptionIdentifiers) -> SubscriptionIdentifiers {
        switch (self, other) {
        case (.none, _): return other
        case (_, .none): return self
        default:
            let all = values + other.values
            return .many(Array(Set(all)).sorted())
        }
    }
}
