/// What to do about a stream that exists with a config other than ours.
public enum StreamConfigDecision: Sendable, Hashable {
    /// The same once the server's defaults are filled in: nothing to do.
    case unchanged
    /// STREAM.UPDATE with our config will make it ours. Lists the wire
    /// names of the members that differ, for the log.
    case update(changed: [String])
    /// STREAM.UPDATE would be refused (2.9.10 `configUpdateCheck`: name,
    /// retention, storage and max_consumers are fixed, and deny_delete,
    /// deny_purge and sealed cannot be turned off). Only deleting and
    /// re-creating the stream, losing its messages, would do; that is for
    /// an operator, not a node start. Lists the members in the way.
    case conflict(immutable: [String])
}

extension StreamConfig {
    /// The duplicate window the server picks when none is given.
    public static let defaultDuplicateWindow: Duration = .seconds(120)

    /// This config as nats-server 2.9.10 stores it (`checkStreamCfg`): zero
    /// limits become -1, zero replicas 1, no subjects the stream's name, no
    /// duplicate window two minutes or `maxAge` when shorter, an empty
    /// description none. Assumes the server has no `duplicate_window` limit
    /// of its own configured, which would lower the default.
    public func withServerDefaults() -> StreamConfig {
        var config = self
        if config.subjects.isEmpty { config.subjects = [name] }
        if config.description?.isEmpty == true { config.description = nil }
        if config.replicas == 0 { config.replicas = 1 }
        if config.maxMessages == 0 { config.maxMessages = -1 }
        if config.maxMessagesPerSubject == 0 { config.maxMessagesPerSubject = -1 }
        if config.maxBytes == 0 { config.maxBytes = -1 }
        if config.maxMessageSize == 0 { config.maxMessageSize = -1 }
        if config.maxConsumers == 0 { config.maxConsumers = -1 }
        if config.duplicateWindow == nil || config.duplicateWindow == .zero {
            let limit = Self.defaultDuplicateWindow
            config.duplicateWindow = config.maxAge != .zero && config.maxAge < limit ? config.maxAge : limit
        }
        return config
    }

    /// Whether `existing` (from STREAM.INFO) already is this config, can be
    /// updated to it, or cannot. Compares with the server's defaults filled
    /// in on both sides, as the server itself does before answering 10058.
    ///
    /// Blind to the members this type does not model (mirror, sources,
    /// placement, republish): a stream that differs only there reads as
    /// `unchanged` here although the server answered 10058.
    public func reconcile(with existing: StreamConfig) -> StreamConfigDecision {
        let wanted = withServerDefaults()
        let current = existing.withServerDefaults()
        let changed = wanted.differences(from: current)
        if changed.isEmpty { return .unchanged }
        var immutable = changed.filter { Self.fixedMembers.contains($0) }
        if current.denyDelete && !wanted.denyDelete { immutable.append(CodingKeys.denyDelete.rawValue) }
        if current.denyPurge && !wanted.denyPurge { immutable.append(CodingKeys.denyPurge.rawValue) }
        if current.sealed && !wanted.sealed { immutable.append(CodingKeys.sealed.rawValue) }
        return immutable.isEmpty ? .update(changed: changed) : .conflict(immutable: immutable)
    }

    /// Members STREAM.UPDATE refuses to change at all.
    private static let fixedMembers: Set<String> = [
        CodingKeys.name.rawValue, CodingKeys.retention.rawValue, CodingKeys.storage.rawValue,
        CodingKeys.maxConsumers.rawValue, CodingKeys.mirrorDirect.rawValue,
    ]

    /// Wire names of the members whose values differ, in wire order.
    func differences(from other: StreamConfig) -> [String] {
        var changed: [CodingKeys] = []
        func check(_ differs: Bool, _ key: CodingKeys) { if differs { changed.append(key) } }
        check(name != other.name, .name)
        check(description != other.description, .description)
        check(subjects != other.subjects, .subjects)
        check(retention != other.retention, .retention)
        check(maxConsumers != other.maxConsumers, .maxConsumers)
        check(maxMessages != other.maxMessages, .maxMessages)
        check(maxBytes != other.maxBytes, .maxBytes)
        check(maxAge != other.maxAge, .maxAge)
        check(maxMessagesPerSubject != other.maxMessagesPerSubject, .maxMessagesPerSubject)
        check(maxMessageSize != other.maxMessageSize, .maxMessageSize)
        check(discard != other.discard, .discard)
        check(discardNewPerSubject != other.discardNewPerSubject, .discardNewPerSubject)
        check(storage != other.storage, .storage)
        check(replicas != other.replicas, .replicas)
        check(duplicateWindow != other.duplicateWindow, .duplicateWindow)
        check(allowDirect != other.allowDirect, .allowDirect)
        check(mirrorDirect != other.mirrorDirect, .mirrorDirect)
        check(allowRollupHeaders != other.allowRollupHeaders, .allowRollupHeaders)
        check(denyDelete != other.denyDelete, .denyDelete)
        check(denyPurge != other.denyPurge, .denyPurge)
        check(sealed != other.sealed, .sealed)
        return changed.map(\.rawValue)
    }
}
