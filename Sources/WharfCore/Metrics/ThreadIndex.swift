import Atomics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small number per thread, handed out in order on first use: how a
/// thread finds its own counter shard with one `pthread_getspecific`.
///
/// Written here because neither swift-atomics nor NIOCore offers a cheap
/// per-thread index (NIO's ThreadSpecificVariable is in NIOPosix and boxes
/// a class per thread); this is one key for the whole process.
enum ThreadIndex {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    private static let next = ManagedAtomic<Int>(0)

    static var current: Int {
        if let stored = pthread_getspecific(key) {
            return Int(bitPattern: stored) - 1
        }
        let index = next.loadThenWrappingIncrement(ordering: .relaxed)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: index + 1))
        return index
    }
}
