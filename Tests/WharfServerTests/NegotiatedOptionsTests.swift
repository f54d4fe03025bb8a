import NIOCore
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

/// What a CONNECT settles, without a channel.
@Suite struct NegotiatedOptionsTests {
    @Test func aMQTT311ConnectKeepsTheDefaults() {
        let options = NegotiatedOptions(connect: ConnectPacket(clientId: "a", keepAlive: 30), limits: BrokerLimits())
        #expect(options.version == .v3_1_1)
        #expect(options.clientMaximumPacketSize == Int.max)
        #expect(options.sessionExpiryInterval == nil, "3.1.1: clean session decides")
        #expect(options.keepAlive == 30 && !options.keepAliveCapped)
        #expect(options.inboundAliasMaximum == 0 && options.outboundAliasMaximum == 0)
    }

    @Test func aMQTT5ConnectSaysWhatTheClientAccepts() {
        var properties = MQTTProperties()
        properties.append(.maximumPacketSize, .fourByteInteger(4096))
        properties.append(.requestProblemInformation, .byte(0))
        properties.append(.sessionExpiryInterval, .fourByteInteger(300))
        properties.append(.receiveMaximum, .twoByteInteger(5))
        properties.append(.topicAliasMaximum, .twoByteInteger(7))
        var limits = BrokerLimits()
        limits.topicAliasMaximum = 11
        let connect = ConnectPacket(version: .v5, clientId: "b", keepAlive: 10, properties: properties)
        let options = NegotiatedOptions(connect: connect, limits: limits)
        #expect(options.version == .v5)
        #expect(options.clientMaximumPacketSize == 4096)
        #expect(!options.requestProblemInformation)
        #expect(options.sessionExpiryInterval == 300)
        #expect(options.receiveMaximum == 5)
        #expect(options.inboundAliasMaximum == 11, "the server's maximum, for aliases the client sets")
        #expect(options.outboundAliasMaximum == 7, "the client's maximum, for aliases the server sets")
    }

    @Test func aMQTT5ConnectWithoutSessionExpiryEndsWithItsConnection() {
        let options = NegotiatedOptions(connect: ConnectPacket(version: .v5, clientId: "c"), limits: BrokerLimits())
        #expect(options.sessionExpiryInterval == 0)
        #expect(options.requestProblemInformation)
    }

    @Test func theServerCapsKeepAliveAndSaysSo() {
        var limits = BrokerLimits()
        limits.maxKeepAlive = 60
        let long = NegotiatedOptions(connect: ConnectPacket(clientId: "d", keepAlive: 600), limits: limits)
        #expect(long.keepAlive == 60 && long.keepAliveCapped)
        let none = NegotiatedOptions(connect: ConnectPacket(clientId: "e", keepAlive: 0), limits: limits)
        #expect(none.keepAlive == 60 && none.keepAliveCapped, "no keep-alive is capped too: the server wants to hear from it")
        let short = NegotiatedOptions(connect: ConnectPacket(clientId: "f", keepAlive: 30), limits: limits)
        #expect(short.keepAlive == 30 && !short.keepAliveCapped)
    }
}
