import Logging
import NIOCore
import NIOEmbedded
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// `PublisherPause` on its own.
@Suite struct PublisherPauseTests {
    private func publish(_ id: UInt16) -> PublishPacket {
        PublishPacket(topic: "t", payload: ByteBuffer(string: "\(id)"), qos: .atLeastOnce, packetId: id)
    }

    @Test func pauseAndResumeReportOnlyChanges() {
        var pause = PublisherPause()
        let began = pause.pause()
        let beganAgain = pause.pause()
        let ended = pause.resume()
        let endedAgain = pause.resume()
        #expect(began && !beganAgain && ended && !endedAgain, "only changes switch reading off or on")
    }

    @Test func deferredPublishesComeBackInOrderAndStopWhenPausedAgain() {
        var pause = PublisherPause()
        _ = pause.pause()
        for id: UInt16 in 1...3 { pause.deferPublish(publish(id)) }
        var next = pause.nextDeferred(ignoringPause: false)
        #expect(next == nil, "still paused")
        _ = pause.resume()
        next = pause.nextDeferred(ignoringPause: false)
        #expect(next?.packetId == 1)
        _ = pause.pause()  // routing 1 paused again
        next = pause.nextDeferred(ignoringPause: false)
        #expect(next == nil)
        // The connection is ending: what the client sent is routed all the same.
        var ending: [UInt16] = []
        while let publish = pause.nextDeferred(ignoringPause: true) { ending.append(publish.packetId ?? 0) }
        #expect(ending == [2, 3])
        #expect(pause.deferredCount == 0)
    }
}

/// A publisher paused for a subscriber's queue, on EmbeddedChannels: it
/// stops reading, the PUBLISH packets it had sent wait unanswered, and when
/// the subscriber drains they are routed and acknowledged in order.
@Suite struct PublisherPauseOnAConnectionTests {
    let counters = BrokerCounters()
    let broker: Broker

    init() {
        var limits = BrokerLimits()
        limits.maxQueuedMessages = 8  // pauses publishers at 6, resumes below 2
        broker = Broker(limits: limits, metrics: counters)
    }

    /// The packet ids of the PUBACKs written so far.
    private func pubacks(_ connection: EmbeddedConnection) throws -> [UInt16] {
        try connection.received().compactMap { packet in
            if case .puback(let ack) = packet { return ack.packetId }
            return nil
        }
    }

    /// Paused as the handler sees it (an EmbeddedChannel ignores `autoRead`
    /// itself; test_35 sees reading stop on a real socket).
    private func isPaused(_ connection: EmbeddedConnection) throws -> Bool {
        try connection.handler.publisherPause.isPaused
    }

    @Test func aPausedPublisherStopsReadingAndResumesInOrder() throws {
        let subscriber = try EmbeddedConnection(broker: broker)
        try subscriber.send(
            [
                .connect(ConnectPacket(clientId: "slow", cleanSession: true, keepAlive: 60)),
                .subscribe(SubscribePacket(packetId: 1, subscriptions: [.init(filter: "t", qos: .atLeastOnce)])),
            ])
        #expect(try subscriber.received().count == 2)  // CONNACK, SUBACK
        let publisher = try EmbeddedConnection(broker: broker)
        try publisher.send([.connect(ConnectPacket(clientId: "fast", cleanSession: true, keepAlive: 60))])
        _ = try publisher.received()

        // Ten publishes in one read; the subscriber's loop has not run, so its queue fills.
        try publisher.send(
            (1...10).map {
                .publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "\($0)"), qos: .atLeastOnce, packetId: UInt16($0)))
            })
        let first = try pubacks(publisher)
        #expect(!first.isEmpty && first.count < 10, "acknowledged up to the pause, got \(first)")
        #expect(first == Array(1...UInt16(first.count)))
        #expect(try isPaused(publisher), "a paused publisher does not read")
        #expect(counters.publisherPauses == 1)

        // The subscriber drains; its queue falls below the low-water mark and the publisher resumes.
        subscriber.runLoop()
        publisher.runLoop()
        let rest = try pubacks(publisher)
        #expect(first + rest == Array(1...UInt16(10)), "every PUBLISH acknowledged once, in order")
        #expect(try !isPaused(publisher))
        subscriber.runLoop()
        let delivered = try subscriber.received().compactMap { packet -> String? in
            if case .publish(let publish) = packet { return String(buffer: publish.payload) }
            return nil
        }
        #expect(delivered == (1...10).map(String.init), "nothing lost or reordered")
    }
}
