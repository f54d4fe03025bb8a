import Atomics
import Synchronization

/// The ACL in force (`[auth] acl_file`), replaced on SIGHUP. Connections and
/// sessions compile their own `ClientAccess` from it (`ClientAuthorization`)
/// and compile again when `generation` has moved on, so a reload reaches
/// clients already connected at their next check, not only new ones.
public final class AccessPolicy: Sendable {
    private let current: Mutex<(list: AccessControlList, generation: Int)>
    /// Read on every check (one relaxed load); written under the lock.
    private let latest = ManagedAtomic<Int>(0)

    public init(_ list: AccessControlList) {
        current = Mutex((list, 0))
    }

    public var generation: Int { latest.load(ordering: .relaxed) }

    /// The list new checks use from now on.
    public func replace(with list: AccessControlList) {
        current.withLock { current in
            current = (list, current.generation + 1)
            latest.store(current.generation, ordering: .relaxed)
        }
    }

    /// The rules for one client, and the generation they come from.
    func compile(username: String?, clientId: String) -> (access: ClientAccess, generation: Int) {
        let (list, generation) = current.withLock { ($0.list, $0.generation) }
        return (list.access(username: username, clientId: clientId), generation)
    }
}

/// One client's rules, compiled from an `AccessPolicy` for its user name and
/// client id, and compiled again after a reload.
public struct ClientAuthorization: Sendable {
    public let policy: AccessPolicy
    public let username: String?
    public let clientId: String
    private var access: ClientAccess
    private var generation: Int

    public init(policy: AccessPolicy, username: String?, clientId: String) {
        self.policy = policy
        self.username = username
        self.clientId = clientId
        (access, generation) = policy.compile(username: username, clientId: clientId)
    }

    /// The rules in force, compiled again if the policy was replaced.
    @inline(__always)
    private mutating func current() -> ClientAccess {
        if policy.generation != generation { (access, generation) = policy.compile(username: username, clientId: clientId) }
        return access
    }

    /// Publish (`write`) or receive (`read`) of a topic name.
    public mutating func allows(_ action: TopicAction, topic: String) -> Bool {
        current().allows(action, topic: topic)
    }

    /// No delivery through a subscription to `filter` can be refused.
    public mutating func allowsAllDeliveries(filter: String) -> Bool {
        current().allowsAllDeliveries(filter: filter)
    }

    /// SUBSCRIBE to a filter (a `$share/group/` prefix included).
    public mutating func allowsSubscription(filter: String) -> Bool {
        current().allowsSubscription(filter: filter)
    }
}
