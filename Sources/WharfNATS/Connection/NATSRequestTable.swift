import DequeModule
import NIOCore

/// The requests waiting for a reply on the connection's one inbox
/// subscription: a token per request (the last token of its reply subject),
/// expiry by deadline. A value type under the connection's lock.
///
/// Deadlines are swept by one repeating timer instead of a scheduled task
/// per request: a pipelined JetStream publish path has thousands in flight,
/// and requests with the same timeout expire in the order they were made,
/// so the sweep only looks at the front of a queue.
struct NATSRequestTable<Waiter> {
    private struct Pending {
        var waiter: Waiter
        /// The write generation it went out in (see `writeGeneration`).
        var generation: UInt64
    }

    private var pending: [UInt64: Pending] = [:]
    private var deadlines = Deque<(deadline: NIODeadline, token: UInt64)>()
    private var nextToken: UInt64 = 1
    /// Bumped each time outbound bytes are handed to a socket; a request
    /// made after that is still unsent and survives a reconnect.
    private(set) var writeGeneration: UInt64 = 0

    var count: Int { pending.count }

    /// Registers a request; returns the token for its reply subject.
    mutating func add(_ waiter: Waiter, deadline: NIODeadline) -> UInt64 {
        let token = nextToken
        nextToken += 1
        pending[token] = Pending(waiter: waiter, generation: writeGeneration)
        // Kept sorted: almost always an append (equal timeouts).
        if let last = deadlines.last, last.deadline > deadline {
            let index = deadlines.firstIndex { $0.deadline > deadline } ?? deadlines.endIndex
            deadlines.insert((deadline, token), at: index)
        } else {
            deadlines.append((deadline, token))
        }
        return token
    }

    /// The waiter for a reply, removed; nil for a reply nobody waits for
    /// (late, after a timeout).
    mutating func complete(_ token: UInt64) -> Waiter? {
        pending.removeValue(forKey: token)?.waiter
    }

    /// Waiters whose deadline passed, removed, oldest first.
    mutating func expire(now: NIODeadline) -> [Waiter] {
        var expired: [Waiter] = []
        while let first = deadlines.first, first.deadline <= now {
            deadlines.removeFirst()
            if let waiter = pending.removeValue(forKey: first.token)?.waiter { expired.append(waiter) }
        }
        // Drop entries of requests already answered, so the queue does not
        // grow with the answered ones whose deadlines are far away.
        if deadlines.count > 2 * pending.count + 64 {
            deadlines.removeAll { pending[$0.token] == nil }
        }
        return expired
    }

    /// Outbound bytes were handed to the socket: requests so far are sent.
    mutating func markWritten() { writeGeneration += 1 }

    /// The connection broke: requests already written can no longer be
    /// answered (their replies went to the old connection). Returns them;
    /// requests still unsent stay, to go out after the reconnect.
    mutating func connectionLost() -> [Waiter] {
        var lost: [Waiter] = []
        for (token, request) in pending where request.generation < writeGeneration {
            lost.append(request.waiter)
            pending[token] = nil
        }
        return lost
    }

    /// Every waiter, removed (on close).
    mutating func removeAll() -> [Waiter] {
        let all = pending.values.map(\.waiter)
        pending.removeAll()
        deadlines.removeAll()
        return all
    }
}
