import Testing
import WharfCore

/// De-duplication ids put back from the journal keep exactly what is left of
/// their window, whatever the machine's uptime.
@Suite struct PublisherDeduplicationTests {
    let day: UInt64 = 86_400 * 1_000_000_000

    @Test func anIdOlderThanTheWindowIsNotRestoredEvenRightAfterBoot() {
        let dedup = PublisherDeduplication(windowSeconds: 7 * 86_400, capacity: 100)
        // Seen 8 days ago; this machine booted a second ago (monotonic 1 s).
        dedup.restore(topic: "orders", id: "a1", age: 8 * day, now: 1_000_000_000)
        #expect(dedup.count == 0)
        #expect(!dedup.isRepeat(topic: "orders", id: "a1", now: 1_000_000_000))
    }

    @Test func anIdWithinTheWindowLivesOnlyForWhatIsLeftOfIt() {
        let dedup = PublisherDeduplication(windowSeconds: 7 * 86_400, capacity: 100)
        let now: UInt64 = 1_000_000_000
        dedup.restore(topic: "orders", id: "a2", age: 1 * day, now: now)
        #expect(dedup.isRepeat(topic: "orders", id: "a2", now: now + 5 * day), "6 days were left")
        dedup.prune(now: now + 6 * day + 1)
        #expect(!dedup.isRepeat(topic: "orders", id: "a2", now: now + 6 * day + 1), "and no more")
    }
}
