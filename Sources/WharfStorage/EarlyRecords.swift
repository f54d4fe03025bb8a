/// Records read before the message record they refer to.
///
/// Each connection submits its own batch, so a subscriber's records about a
/// message (acknowledged, sent at QoS 2, PUBREC came back, handed over by a
/// consumer group) can reach the log ahead of the publisher's batch that
/// holds the message itself. They wait here and apply when it arrives.
///
/// One whose message never comes (the publisher's batch was lost in a crash)
/// would wait for ever, and every checkpoint would copy it again. So each
/// is kept through the checkpoint after it was read and dropped at the one
/// after that: a publisher's batch reaches the writer within milliseconds,
/// and a segment's worth of writes lies between two checkpoints.
struct EarlyRecords {
    struct Handshake {
        var packetId: UInt16?
        var released = false
        var generation: UInt32
    }

    private(set) var removals: [DurableState.QueueMessage: UInt32] = [:]
    private(set) var handshakes: [DurableState.QueueMessage: Handshake] = [:]
    /// By message id: the message's queues are not known until it arrives.
    private(set) var enqueues: [UInt64: (generation: UInt32, entries: [QueueEntry])] = [:]
    /// Checkpoints seen so far.
    private var generation: UInt32 = 0

    var isEmpty: Bool { removals.isEmpty && handshakes.isEmpty && enqueues.isEmpty }

    mutating func remove(_ key: DurableState.QueueMessage) {
        removals[key] = generation
    }

    mutating func sent(_ key: DurableState.QueueMessage, packetId: UInt16) {
        handshakes[key, default: Handshake(generation: generation)].packetId = packetId
    }

    mutating func released(_ key: DurableState.QueueMessage) {
        handshakes[key, default: Handshake(generation: generation)].released = true
    }

    mutating func enqueue(_ entry: QueueEntry) {
        enqueues[entry.message, default: (generation, [])].entries.append(entry)
    }

    /// The message reached `key`'s queue: whether that queue removed it
    /// already, and its QoS 2 progress there.
    mutating func take(_ key: DurableState.QueueMessage) -> (removed: Bool, handshake: Handshake?) {
        let handshake = handshakes.removeValue(forKey: key)
        return (removals.removeValue(forKey: key) != nil, handshake)
    }

    /// The message arrived: entries other queues logged for it first.
    mutating func takeEnqueues(of message: UInt64) -> [QueueEntry] {
        enqueues.removeValue(forKey: message)?.entries ?? []
    }

    /// A checkpoint: drops what already waited through the previous one.
    mutating func checkpointed() {
        let cutoff = generation
        removals = removals.filter { $0.value >= cutoff }
        handshakes = handshakes.filter { $0.value.generation >= cutoff }
        enqueues = enqueues.filter { $0.value.generation >= cutoff }
        generation += 1
    }
}
