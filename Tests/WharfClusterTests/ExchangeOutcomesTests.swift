import Testing

@testable import WharfCluster

/// `ExchangeOutcomes`: what a node tells a claiming node about the QoS 2
/// exchanges it routed.
@Suite struct ExchangeOutcomesTests {
    let start = ContinuousClock.now

    @Test func anExchangeIsRoutingUntilEveryCopyAnswered() {
        var table = ExchangeOutcomes()
        table.routing("x", now: start)
        #expect(table.outcome(of: "x", now: start) == .routing)
        table.finished("x", stored: true)
        #expect(table.outcome(of: "x", now: start + .seconds(1)) == .routed)

        table.routing("y", now: start)
        table.finished("y", stored: false)
        #expect(table.outcome(of: "y", now: start) == .unknown, "a copy given up on may still land")
        #expect(table.outcome(of: "never", now: start) == nil)
    }

    @Test func aFinishNeitherCreatesNorChangesAnEndedExchange() {
        var table = ExchangeOutcomes()
        table.finished("x", stored: true)
        #expect(table.outcome(of: "x", now: start) == nil)
        table.routing("y", now: start)
        table.finished("y", stored: true)
        table.finished("y", stored: false)
        #expect(table.outcome(of: "y", now: start) == .routed)
    }

    @Test func outcomesLastTheDuplicateWindowAndTheCapacity() {
        var table = ExchangeOutcomes(window: .seconds(120), capacity: 3)
        table.routing("old", now: start)
        table.finished("old", stored: true)
        #expect(table.outcome(of: "old", now: start + .seconds(119)) == .routed)
        #expect(table.outcome(of: "old", now: start + .seconds(120)) == nil)

        for key in ["a", "b", "c", "d"] { table.routing(key, now: start + .seconds(200)) }
        #expect(table.count == 3, "the window pruned the old one, the bound the oldest of the rest")
        #expect(table.outcome(of: "a", now: start + .seconds(200)) == nil)
        #expect(table.outcome(of: "d", now: start + .seconds(200)) == .routing)
    }

    @Test func routingAgainStartsAnewAndSurvivesTheOlderEntrysExpiry() {
        var table = ExchangeOutcomes(window: .seconds(10), capacity: 10)
        table.routing("x", now: start)
        table.finished("x", stored: false)
        table.routing("x", now: start + .seconds(5))
        table.finished("x", stored: true)
        // The first entry's expiry must not take the second with it.
        table.routing("other", now: start + .seconds(11))
        #expect(table.outcome(of: "x", now: start + .seconds(11)) == .routed)
    }
}
