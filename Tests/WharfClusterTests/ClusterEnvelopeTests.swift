import NIOCore
import Testing
import WharfCore
import WharfMQTT

@testable import WharfCluster

@Suite struct ClusterEnvelopeTests {
    @Test func roundTripKeepsWhatSubscribersSee() throws {
        var properties = MQTTProperties()
        properties.append(.contentType, .string("text/plain"))
        properties.append(.userProperty, .stringPair("k", "v"))
        properties.append(.userProperty, .stringPair("k", "w"))
        properties.append(.messageExpiryInterval, .fourByteInteger(60))
        let message = Message(
            topic: "a/b\r\nc", payload: ByteBuffer(string: "payload"), qos: .exactlyOnce, retain: true, properties: properties)
        let clock = WallClock.now()
        let decoded = try #require(ClusterEnvelope.decode(ClusterEnvelope.encode(message, clock: clock), clock: clock))
        #expect(decoded.topic == "a/b\r\nc")
        #expect(String(buffer: decoded.payload) == "payload")
        #expect(decoded.qos == .exactlyOnce && decoded.retain)
        #expect(decoded.forwardedProperties == message.forwardedProperties)
        #expect(decoded.forwardsExpiry)
        // Times come back on the same clocks to within rounding.
        let published = Int64(bitPattern: decoded.publishedAtNanos &- message.publishedAtNanos)
        #expect(abs(published) < 1_000)
        #expect(decoded.remainingExpirySeconds(at: clock.now) == message.remainingExpirySeconds(at: clock.now))
    }

    @Test func anExpiredMessageArrivesExpired() throws {
        let clock = WallClock.now()
        let message = Message(
            topic: "t", payload: ByteBuffer(), qos: .atLeastOnce, retain: false, publishedAtNanos: clock.now,
            expiresAtNanos: clock.now + 1_000_000_000)
        let later = WallClock(now: clock.now + 5_000_000_000, wallNow: clock.wallNow + 5_000_000_000)
        let decoded = try #require(ClusterEnvelope.decode(ClusterEnvelope.encode(message, clock: clock), clock: later))
        #expect(decoded.isExpired(at: later.now))
    }

    @Test func bytesThatAreNotAnEnvelopeAreRefused() {
        #expect(ClusterEnvelope.decode(ByteBuffer()) == nil)
        #expect(ClusterEnvelope.decode(ByteBuffer(bytes: [2, 0])) == nil)
        var truncated = ClusterEnvelope.encode(
            Message(topic: "long/topic", payload: ByteBuffer(string: "x"), qos: .atMostOnce, retain: false))
        truncated.moveWriterIndex(to: 25)
        #expect(ClusterEnvelope.decode(truncated) == nil)
        // Every prefix of a valid envelope either decodes or is refused: never a trap.
        let whole = ClusterEnvelope.encode(Message(topic: "t/u", payload: ByteBuffer(string: "body"), qos: .atLeastOnce, retain: false))
        for length in 0..<whole.readableBytes {
            _ = ClusterEnvelope.decode(whole.getSlice(at: 0, length: length)!)
        }
    }

    /// An inbound QoS 2 exchange's message carries the exchange's key
    /// (version 2); every other message stays version 1, byte for byte.
    @Test func anExchangesMessageCarriesItsKeyAndOthersStayVersionOne() throws {
        let message = Message(topic: "orders/1", payload: ByteBuffer(string: "buy"), qos: .exactlyOnce, retain: false)
        let key = InboundExchange(clientId: "pub-1", epoch: 7, serial: 3).key
        let clock = WallClock.now()
        let with = ClusterEnvelope.encode(message, exchange: key, clock: clock)
        #expect(with.readableBytes == ClusterEnvelope.encodedCount(message, exchange: key))
        let (decoded, exchange) = try #require(ClusterEnvelope.decodeForward(with, clock: clock))
        #expect(exchange == key)
        #expect(decoded.topic == "orders/1" && String(buffer: decoded.payload) == "buy" && decoded.qos == .exactlyOnce)
        let without = ClusterEnvelope.encode(message, clock: clock)
        #expect(without.getInteger(at: 0, as: UInt8.self) == 1)
        #expect(try #require(ClusterEnvelope.decodeForward(without, clock: clock)).exchange == nil)
        // Every prefix is refused or decodes: never a trap.
        for length in 0..<with.readableBytes { _ = ClusterEnvelope.decodeForward(with.getSlice(at: 0, length: length)!) }
        // One identity per destination, the same from every node.
        let exchangeId = InboundExchange(clientId: "pub-1", epoch: 7, serial: 3)
        #expect(ClusterNames.exchangeMessageId(exchangeId, to: "n.a") == ClusterNames.exchangeMessageId(exchangeId, to: "n.a"))
        #expect(ClusterNames.exchangeMessageId(exchangeId, to: "n.a") != ClusterNames.exchangeMessageId(exchangeId, to: "n.b"))
    }

    @Test func keysAreValidKVKeysAndDistinct() {
        let topics = ["a/b", "a/b/", "$SYS/x", "sensors/+/temp", "#", String(repeating: "long/", count: 100), "ü/é", ""]
        let keys = topics.map(ClusterNames.key(for:))
        #expect(Set(keys).count == topics.count)
        for key in keys {
            #expect(key.utf8.count <= 200)
            #expect(key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }, "\(key)")
        }
        #expect(ClusterNames.node(ofRouteKey: ClusterNames.routeKey(node: "node-1", filter: "a/#")) == "node-1")
    }
}
