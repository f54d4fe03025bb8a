import Atomics
import NIOCore

/// One clock per event loop that advances only while its loop runs: a
/// repeating task adds its period each time it runs, so a loop blocked for
/// five seconds gains one period, not five seconds. Flow control reads a
/// consumer's clock (`DeliveryTarget.loopRunningNanos`) to judge the
/// consumer on the time it actually had, never for the broker's own stall.
final class LoopClocks: Sendable {
    /// The clock of one loop, shared by every connection on it.
    final class LoopClock: Sendable {
        fileprivate let nanos = ManagedAtomic<UInt64>(0)
        var runningNanos: UInt64 { nanos.load(ordering: .relaxed) }
    }

    /// Fine next to the 250 ms pause bound; 100 wake-ups a second per loop.
    static let tick = TimeAmount.milliseconds(10)

    private let clocks: [ObjectIdentifier: LoopClock]
    private let tasks: [RepeatedTask]

    init(group: any EventLoopGroup) {
        var clocks: [ObjectIdentifier: LoopClock] = [:]
        var tasks: [RepeatedTask] = []
        let step = UInt64(Self.tick.nanoseconds)
        for loop in group.makeIterator() {
            let clock = LoopClock()
            clocks[ObjectIdentifier(loop)] = clock
            tasks.append(
                loop.scheduleRepeatedTask(initialDelay: Self.tick, delay: Self.tick) { _ in
                    clock.nanos.wrappingIncrement(by: step, ordering: .relaxed)
                })
        }
        self.clocks = clocks
        self.tasks = tasks
    }

    func clock(for loop: any EventLoop) -> LoopClock? {
        clocks[ObjectIdentifier(loop)]
    }

    func stop() {
        for task in tasks { task.cancel() }
    }
}
