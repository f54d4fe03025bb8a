import Foundation
import Testing

@testable import WharfCore

/// `PublisherPacing` on its own: the value type a session's and a group's
/// queue keep under their lock.
@Suite struct PublisherPacingTests {
    let fast = RecordingTarget()
    let other = RecordingTarget()
    let consumer = ObjectIdentifier(RecordingTarget())

    @Test func watermarksAreThreeQuartersAndOneQuarterOfTheLimit() {
        let pacing = PublisherPacing(maxQueued: 1000)
        #expect(pacing.highWaterMark == 750 && pacing.lowWaterMark == 250)
        let unlimited = PublisherPacing(maxQueued: Int.max)
        #expect(unlimited.highWaterMark > 0, "no overflow for a queue without a limit")
    }

    @Test func publishersPauseAtTheHighWaterMarkOnceEachAndResumeWhenDrained() {
        var pacing = PublisherPacing(maxQueued: 8)
        let clocks = { [PublisherPacing.ConsumerClock(consumer: consumer, loopNanos: 0)] }
        #expect(!pacing.admitted(depth: 5, publisher: fast, progress: 0, clocks: clocks).pause, "below 6: no pause")
        #expect(pacing.admitted(depth: 6, publisher: fast, progress: 0, clocks: clocks).pause)
        #expect(pacing.admitted(depth: 7, publisher: fast, progress: 0, clocks: clocks).pause)
        #expect(pacing.admitted(depth: 7, publisher: other, progress: 0, clocks: clocks).pause)
        #expect(pacing.paused.count == 2, "each publisher is registered once")
        #expect(pacing.drained(depth: 3).isEmpty, "above the low-water mark: still paused")
        let resumed = pacing.drained(depth: 2)
        #expect(resumed.count == 2 && resumed.contains { $0 === fast } && resumed.contains { $0 === other })
        #expect(pacing.paused.isEmpty)
    }

    @Test func aConsumerWhoseLoopRanAWholePauseWithoutProgressIsStuck() throws {
        var pacing = PublisherPacing(maxQueued: 8)
        var loop: UInt64 = 0
        #expect(pacing.admitted(depth: 6, publisher: fast, progress: 0) { [.init(consumer: consumer, loopNanos: loop)] }.pause)
        Thread.sleep(forTimeInterval: Double(PublisherPacing.maxPauseNanos) / 1e9 + 0.05)
        // Its loop was held up elsewhere the whole time: not its fault, keep waiting.
        #expect(pacing.admitted(depth: 7, publisher: fast, progress: 0) { [.init(consumer: consumer, loopNanos: loop)] }.pause)
        // Its loop ran the whole pause and it took nothing: stuck. Publishers go, nobody is held.
        loop += PublisherPacing.maxPauseNanos
        let stuck = pacing.admitted(depth: 7, publisher: fast, progress: 0) { [.init(consumer: consumer, loopNanos: loop)] }
        #expect(!stuck.pause && stuck.resume.count == 1 && pacing.suspended)
        #expect(!pacing.admitted(depth: 8, publisher: other, progress: 0) { [] }.pause, "suspended until the queue drains")
        _ = pacing.drained(depth: 0)
        #expect(!pacing.suspended)
    }

    @Test func aSlowConsumerThatMakesProgressKeepsPublishersPaced() throws {
        var pacing = PublisherPacing(maxQueued: 8)
        let clocks = { [PublisherPacing.ConsumerClock(consumer: consumer, loopNanos: 0)] }
        #expect(pacing.admitted(depth: 6, publisher: fast, progress: 0, clocks: clocks).pause)
        Thread.sleep(forTimeInterval: Double(PublisherPacing.maxPauseNanos) / 1e9 + 0.05)
        let later = pacing.admitted(depth: 7, publisher: fast, progress: 3) {
            [.init(consumer: consumer, loopNanos: PublisherPacing.maxPauseNanos * 2)]
        }
        #expect(later.pause && later.resume.isEmpty && !pacing.suspended, "it took three: slow, not stuck")
    }
}
