import Testing
import WharfCore

/// The lock order check (debug builds: every test run).
@Suite struct LockOrderTests {
    @Test func locksTakenInOrderNest() {
        let sessions = OrderedMutex(.sessions, 0)
        let session = OrderedMutex(.session, 0)
        sessions.withLock { outer in
            session.withLock { inner in inner += 1 }
            outer += 1
        }
        // One at a time, any order is fine.
        session.withLock { $0 += 1 }
        sessions.withLock { $0 += 1 }
        #expect(session.withLock { $0 } == 2)
    }

    #if DEBUG
        @Test func aLockTakenAgainstTheOrderTraps() async {
            await #expect(processExitsWith: .failure) {
                let group = OrderedMutex(.group, 0)
                let tree = OrderedMutex(.tree, 0)
                group.withLock { _ in tree.withLock { $0 += 1 } }
            }
        }
    #endif
}
