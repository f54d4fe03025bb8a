import Testing
import WharfCore

@testable import WharfCluster

/// `CompletedForgetCheck`: the record forgets completed QoS 2 deliveries
/// only below what the stream leader, asked a while after the deletes, no
/// longer holds; what it still holds is deleted again.
@Suite struct CompletedForgetCheckTests {
    let start = ContinuousClock.now
    let delay = Duration.seconds(2)

    /// The check behind a reference, so that `#expect` can ask it (a macro
    /// argument cannot call a mutating method).
    final class Check {
        var value = CompletedForgetCheck()
        func deleted(below limit: UInt64, now: ContinuousClock.Instant, delay: Duration) {
            value.deleted(below: limit, now: now, delay: delay)
        }
        func due(now: ContinuousClock.Instant) -> (from: UInt64, below: UInt64)? { value.due(now: now) }
        func answered(leaderFirst: UInt64?, now: ContinuousClock.Instant, delay: Duration) -> (
            forgetBelow: UInt64, deleteAgain: Range<UInt64>?
        ) {
            value.answered(leaderFirst: leaderFirst, now: now, delay: delay)
        }
        func unanswered(now: ContinuousClock.Instant, delay: Duration) { value.unanswered(now: now, delay: delay) }
    }

    @Test func nothingIsForgottenBeforeTheLeaderIsAskedAfterTheDelay() throws {
        let check = Check()
        check.deleted(below: 297, now: start, delay: delay)
        #expect(check.due(now: start + .seconds(1)) == nil, "the leader that answered may not have written it down")
        let question = try #require(check.due(now: start + .seconds(2)))
        #expect(question.from == 1 && question.below == 297)
        #expect(check.due(now: start + .seconds(3)) == nil, "one question at a time")
        let outcome = check.answered(leaderFirst: 372, now: start + .seconds(2), delay: delay)
        #expect(outcome.forgetBelow == 297)
        #expect(outcome.deleteAgain == nil)
        #expect(check.due(now: start + .seconds(10)) == nil, "nothing deleted since")
    }

    /// The chaos run: deletes of 273 to 295 answered, the leader killed,
    /// and the one elected after it still holds them.
    @Test func entriesTheLeaderStillHoldsAreKeptAndDeletedAgain() throws {
        let check = Check()
        check.deleted(below: 297, now: start, delay: delay)
        check.deleted(below: 372, now: start + .milliseconds(20), delay: delay)
        _ = try #require(check.due(now: start + .seconds(5)))
        let outcome = check.answered(leaderFirst: 273, now: start + .seconds(5), delay: delay)
        #expect(outcome.forgetBelow == 273, "only below what the leader holds")
        #expect(outcome.deleteAgain == 273..<297)
        // Asked again, after the deletes again, about everything deleted so far.
        #expect(check.due(now: start + .seconds(6)) == nil)
        let again = try #require(check.due(now: start + .seconds(7)))
        #expect(again.from == 273 && again.below == 372)
        #expect(check.answered(leaderFirst: 380, now: start + .seconds(7), delay: delay).forgetBelow == 372)
    }

    @Test func roundsAnsweredMeanwhileAreAskedAboutNext() throws {
        let check = Check()
        check.deleted(below: 100, now: start, delay: delay)
        check.deleted(below: 150, now: start + .seconds(1), delay: delay)
        check.deleted(below: 120, now: start + .seconds(1), delay: delay)
        _ = try #require(check.due(now: start + .seconds(2)))
        check.deleted(below: 200, now: start + .seconds(2), delay: delay)
        #expect(check.answered(leaderFirst: nil, now: start + .seconds(3), delay: delay).forgetBelow == 100, "an empty queue")
        #expect(check.due(now: start + .seconds(4)) == nil, "the later rounds wait their own delay")
        let next = try #require(check.due(now: start + .seconds(5)))
        #expect(next.from == 100 && next.below == 200)
    }

    @Test func anUnansweredQuestionIsAskedAgainLater() throws {
        let check = Check()
        check.deleted(below: 50, now: start, delay: delay)
        _ = try #require(check.due(now: start + .seconds(2)))
        check.unanswered(now: start + .seconds(3), delay: delay)
        #expect(check.due(now: start + .seconds(4)) == nil)
        let again = try #require(check.due(now: start + .seconds(5)))
        #expect(again.below == 50)
    }

    @Test func aLimitAlreadyConfirmedAsksNothing() throws {
        let check = Check()
        check.deleted(below: 50, now: start, delay: delay)
        _ = try #require(check.due(now: start + .seconds(2)))
        _ = check.answered(leaderFirst: 60, now: start + .seconds(2), delay: delay)
        check.deleted(below: 50, now: start + .seconds(3), delay: delay)
        #expect(check.due(now: start + .seconds(10)) == nil)
    }
}

/// The check on a node: while the stream leader still holds entries this
/// node deleted (a delete a killed server lost), the record keeps their
/// completed QoS 2 deliveries and the entries are deleted again.
@Suite(.timeLimit(.minutes(2))) struct CompletedForgetCheckNodeTests {
    typealias Nodes = ClusterNodeTests
    typealias Directory = SessionDirectoryTests

    static func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func aDeleteTheLeaderLostKeepsTheRecordsCompletedDeliveries() async throws {
        let a = try await Nodes.node(Nodes.unique("a"))
        let client = Nodes.unique("c")
        let grant = try #require(Directory.grant(await a.cluster.claimSession(Directory.connect(client))))
        let session = Session(clientId: client, maxInflight: 10, maxQueued: 10)
        a.cluster.sessionDelivering(clientId: client, epoch: grant.epoch, session: session) { _, done in done() }
        let delivery = InboxDelivery(qos: .exactlyOnce, retain: false)
        let items = (0..<3).map { (SessionInboxTests.message("m\($0)", qos: .exactlyOnce), delivery) }
        #expect(await SessionInboxTests.append(a, items, to: client))
        let sequences = try await SessionInboxTests.read(a, client, until: 3).all.map(\.sequence)
        a.cluster.state.withLock { state in
            state.followers[client] = InboxFollower(session: session, reader: a.cluster.inboxReader(for: client) { _, _, _, _, _ in })
        }
        for (index, sequence) in sequences.enumerated() {
            a.cluster.sessionCompleted(
                clientId: client, epoch: grant.epoch, ClusterReleasedDelivery(packetId: UInt16(index + 1), sequence: sequence))
        }
        try await Self.until("the record lists them completed") { try await Directory.record(a, client)?.completed == sequences }

        // This node's deletes were answered, but the leader holds the entries.
        let limit = sequences[2] + 1
        func check() async throws {
            let question = try #require(
                a.cluster.state.withLock { state in
                    // Asked as if the delay had passed.
                    state.followers[client]?.forgetCheck.deleted(below: limit, now: .now, delay: .seconds(2))
                    return state.followers[client]?.forgetCheck.due(now: .now + .seconds(5))
                })
            await a.cluster.checkForgetting(client, session: session, from: question.from, below: question.below)
        }
        try await check()
        #expect(a.cluster.statistics.withLock { $0.errors["undone_queue_delete"] } == 3)
        #expect(session.takeAllReadInboxEntries() == sequences, "to be deleted again")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Directory.record(a, client)?.completed == sequences, "kept while the leader holds them")

        // Deleted for good: the record forgets them.
        #expect(await a.cluster.deleteInboxEntries(sequences).failed.isEmpty)
        try await check()
        try await Self.until("the record forgets them") { try await Directory.record(a, client)?.completed == nil }
        await a.cluster.stop()
    }
}
