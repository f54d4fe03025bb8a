import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The core's lock order, written once. Locks are short, cover in-memory
/// state only and are never held across I/O. When one is held while another
/// is taken, the second is always further down this list:
///
/// 1. `sessions`: the broker's sessions by client id
/// 2. `groups`: the broker's consumer groups by name and filter
/// 3. `tree`: the subscription tree (publishing takes it only to match)
/// 4. `group`: one consumer group's state (it hands messages to member
///    sessions under its own lock)
/// 5. `session`: one session's state
///
/// Every other lock (retained store, timers' lists, de-duplication, metrics)
/// is a leaf: nothing is taken while it is held. Debug builds, which every
/// test runs, check the order on every acquisition (`OrderedMutex`) and
/// trap on a violation; release builds pay nothing.
public enum LockLevel: Int, Sendable, Comparable, CustomStringConvertible {
    case sessions = 1
    case groups
    case tree
    case group
    case session

    public static func < (a: LockLevel, b: LockLevel) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(self.rawValue) (\(name))" }
    private var name: String {
        switch self {
        case .sessions: "sessions"
        case .groups: "groups"
        case .tree: "tree"
        case .group: "group"
        case .session: "session"
        }
    }
}

/// A `Mutex` at a place in the lock order. `withLock` is `Mutex.withLock`
/// plus, in debug builds, the order check.
public struct OrderedMutex<Value: ~Copyable>: ~Copyable, Sendable {
    @usableFromInline let level: LockLevel
    @usableFromInline let mutex: Mutex<Value>

    public init(_ level: LockLevel, _ value: consuming sending Value) {
        self.level = level
        self.mutex = Mutex(value)
    }

    @inlinable @inline(__always)
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        #if DEBUG
            LockOrderCheck.acquire(level)
            defer { LockOrderCheck.release(level) }
        #endif
        return try mutex.withLock(body)
    }
}

#if DEBUG
    /// The levels this thread holds, innermost last (a per-thread stack).
    @usableFromInline
    enum LockOrderCheck {
        final class Held {
            var levels: [LockLevel] = []
        }

        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { pointer in if let pointer { Unmanaged<Held>.fromOpaque(pointer).release() } }
            return key
        }()

        private static var held: Held {
            if let pointer = pthread_getspecific(key) { return Unmanaged<Held>.fromOpaque(pointer).takeUnretainedValue() }
            let held = Held()
            pthread_setspecific(key, Unmanaged.passRetained(held).toOpaque())
            return held
        }

        @usableFromInline
        static func acquire(_ level: LockLevel) {
            let held = held
            if let innermost = held.levels.last, innermost >= level {
                preconditionFailure("lock order violated: taking lock \(level) while holding \(innermost) (see LockOrder.swift)")
            }
            held.levels.append(level)
        }

        @usableFromInline
        static func release(_ level: LockLevel) {
            let held = held
            precondition(held.levels.last == level, "lock \(level) released out of order")
            held.levels.removeLast()
        }
    }
#endif
