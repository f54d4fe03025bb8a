import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import WharfCore
import WharfMQTT

@testable import WharfServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Support for SessionFuzzTests: `FuzzConnection`, a client on the server's
// real pipeline that checks everything the server writes to it. The seeded
// generator and the crash breadcrumb are in WharfTestSupport.

/// Reason codes a server may put in a DISCONNECT (5.0 table 3.10; 0x04 is
/// the client's alone).
let serverDisconnectCodes: Set<UInt8> = [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
]

/// What the fuzzer finds that is known and not fixed yet: an issue whose
/// message contains `pattern` is recorded as a known issue (the run passes
/// and lists it). Remove an entry once the server is fixed; a named test in
/// SessionFuzzTests reproduces each one and fails when it stops happening.
let knownFindings: [(pattern: String, note: String)] = []

/// How often each known finding came up; only the first few of each are
/// recorded as known issues, so a long run does not drown its output.
let knownFindingCounts = Mutex<[String: Int]>([:])

/// Records a known issue, the first three times for `note`.
func recordKnown(_ note: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let count = knownFindingCounts.withLock { counts in
        counts[note, default: 0] += 1
        return counts[note]!
    }
    guard count <= 3 else { return }
    withKnownIssue(Comment(rawValue: note), isIntermittent: true) {
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// Records a fuzz finding: a known issue if `knownFindings` lists it.
func fuzzIssue(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if let known = knownFindings.first(where: { message.contains($0.pattern) }) {
        recordKnown(known.note, message, sourceLocation: sourceLocation)
    } else {
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// A logger that writes nothing: thousands of fuzzed connections would
/// otherwise log each close at info level.
let silentLogger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

/// One client connection through the server's real pipeline (decoder, keep
/// alive, connection handler) on an `EmbeddedChannel`, with a shadow copy
/// of the server's parser fed the same bytes, so the test knows exactly what
/// the server decoded. Everything the server writes is parsed as a client
/// would, and checked against the rules that hold whatever was sent:
///
/// - it parses, as a client of this version parses it;
/// - CONNACK first and once; no DISCONNECT or AUTH to a 3.1.1 client;
///   nothing after a DISCONNECT;
/// - no packet above the Maximum Packet Size the client gave;
/// - no reason string of 1,024 bytes or more (the encoder bounds them far lower);
/// - no reason string or user property outside CONNACK, PUBLISH and
///   DISCONNECT when the client set Request Problem Information to 0;
/// - topic aliases within the client's maximum, used only once assigned;
/// - QoS 1 and 2 deliveries in flight within the client's Receive Maximum,
///   and no packet identifier reused while in flight.
final class FuzzConnection {
    let channel: EmbeddedChannel
    var version: ProtocolVersion
    let label: String
    let broker: Broker

    /// What the client told the server at CONNECT (5.0).
    var maximumPacketSize: Int?
    var requestProblemInformation = true
    var topicAliasMaximum = 0
    var receiveMaximum = 65_535
    var sessionExpiry: UInt32 = 0

    /// The server's parser, mirrored.
    private(set) var shadow: MQTTPacketParser
    private(set) var shadowError: MQTTDecodeError?
    /// Client packets the shadow decoded, in order.
    private(set) var sent: [MQTTPacket] = []

    /// Server packets, in order.
    private(set) var received: [MQTTPacket] = []
    private var stream = ByteBuffer()
    private var parser: MQTTPacketParser
    private var streamBroken = false
    private(set) var connack: ConnAckPacket?
    private(set) var serverDisconnect: DisconnectPacket?
    /// Aliases the server assigned for its PUBLISH packets.
    private var serverAliases: [UInt16: String] = [:]
    /// Server deliveries not yet completed, by packet id.
    private(set) var inflight: [UInt16: QoS] = [:]
    /// QoS 2 deliveries the client answered with PUBREC, waiting for PUBREL.
    private(set) var released: Set<UInt16> = []

    init(
        broker: Broker, limiter: ConnectionLimiter, authenticator: Authenticator = Authenticator(),
        version: ProtocolVersion, label: String, connectTimeout: TimeAmount = .seconds(10)
    ) throws {
        self.broker = broker
        self.version = version
        self.label = label
        channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        let serverParser = MQTTPacketParser(maxPacketSize: broker.limits.maxPacketSize)
        try pipeline.addHandler(MQTTPacketReader(parser: serverParser))
        try pipeline.addHandler(KeepAliveHandler(timeout: connectTimeout, resetByPackets: false), name: BrokerServer.keepAliveHandlerName)
        try pipeline.addHandler(MQTTConnectionHandler(broker: broker, limiter: limiter, authenticator: authenticator, logger: silentLogger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        shadow = serverParser
        parser = MQTTPacketParser(version: version == .v5 ? .v5 : .v3_1_1, asClient: true)
    }

    var isOpen: Bool { channel.isActive }

    /// Sends raw bytes as one read; returns the server packets written since.
    @discardableResult
    func send(_ bytes: ByteBuffer, peers: [FuzzConnection] = []) -> [MQTTPacket] {
        guard isOpen else { return [] }
        mirror(bytes)
        let before = received.count
        do {
            try channel.writeInbound(bytes)
        } catch {
            fuzzIssue("\(label): an error reached the end of the pipeline: \(error)")
        }
        settle(peers)
        return Array(received[before...])
    }

    /// Encodes `packet` at the client's version and sends it.
    @discardableResult
    func send(_ packet: MQTTPacket, peers: [FuzzConnection] = []) -> [MQTTPacket] {
        var buffer = ByteBuffer()
        packet.encode(into: &buffer, version: version)
        return send(buffer, peers: peers)
    }

    /// Runs this connection's loop and its peers' (deliveries hop between
    /// loops), then collects what every one of them wrote.
    func settle(_ peers: [FuzzConnection] = []) {
        for _ in 0..<3 {
            channel.embeddedEventLoop.run()
            for peer in peers { peer.channel.embeddedEventLoop.run() }
        }
        collect()
        for peer in peers { peer.collect() }
    }

    /// Advances this connection's clock (keep alive, flow-control pauses).
    func advance(by amount: TimeAmount, peers: [FuzzConnection] = []) {
        channel.embeddedEventLoop.advanceTime(by: amount)
        settle(peers)
    }

    func close() {
        _ = try? channel.close().wait()
        channel.embeddedEventLoop.run()
        collect()
    }

    /// What the server's own parser makes of these bytes, decoded as it does.
    private func mirror(_ bytes: ByteBuffer) {
        guard shadowError == nil else { return }
        var pending = bytes
        shadowPending.writeBuffer(&pending)
        do {
            while let packet = try shadow.parse(&shadowPending) { sent.append(packet) }
        } catch {
            shadowError = error
        }
    }
    private var shadowPending = ByteBuffer()

    /// Bytes the server holds of a packet not yet whole.
    var shadowWaitingBytes: Int { shadowPending.readableBytes }

    /// Reads what the server wrote, parses it as the client, checks it.
    func collect() {
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try channel.readOutbound(as: ByteBuffer.self)
            } catch {
                fuzzIssue("\(label): the server wrote something other than a ByteBuffer: \(error)")
                return
            }
            guard var chunk else { break }
            stream.writeBuffer(&chunk)
        }
        guard !streamBroken else { return }
        while stream.readableBytes > 0 {
            let start = stream.readerIndex
            let packet: MQTTPacket?
            do {
                packet = try parser.parse(&stream)
            } catch {
                stream.moveReaderIndex(to: start)
                // A CONNECT with an unsupported level is refused in the form of
                // the level it named (the 5.0 form above 5), not the client's.
                if received.isEmpty, case .unsupportedProtocolVersion? = shadowError {
                    let other = MQTTPacketParser(version: parser.version == .v5 ? .v3_1_1 : .v5, asClient: true)
                    var copy = stream
                    var trial = other
                    if case .connack? = try? trial.parse(&copy) {
                        parser = other
                        continue
                    }
                }
                fuzzIssue(
                    "\(label): the server wrote a packet a client cannot parse: \(error); bytes \(stream.readableBytesView.prefix(32).map { String($0, radix: 16) })"
                )
                streamBroken = true
                return
            }
            guard let packet else { break }
            check(packet, wireSize: stream.readerIndex - start)
            received.append(packet)
        }
    }

    private func check(_ packet: MQTTPacket, wireSize: Int) {
        let v5 = version == .v5
        if let maximumPacketSize, v5, wireSize > maximumPacketSize {
            fuzzIssue("\(label): \(packet.type) of \(wireSize) bytes exceeds the client's Maximum Packet Size \(maximumPacketSize)")
        }
        if serverDisconnect != nil {
            fuzzIssue("\(label): \(packet.type) after the server's DISCONNECT")
        }
        if received.isEmpty {
            if packet.type != .connack { fuzzIssue("\(label): the first server packet is \(packet.type), not CONNACK") }
        } else if packet.type == .connack {
            fuzzIssue("\(label): a second CONNACK")
        }
        switch packet.type {
        case .connect, .subscribe, .unsubscribe, .pingreq:
            fuzzIssue("\(label): the server sent \(packet.type)")
        case .auth:
            fuzzIssue("\(label): the server sent AUTH, but no enhanced authentication was asked for")
        case .disconnect where !v5:
            fuzzIssue("\(label): DISCONNECT sent to a \(version) client")
        default:
            break
        }
        let properties = packet.properties
        if let reason = properties.string(.reasonString), reason.utf8.count >= 1_024 {
            fuzzIssue("\(label): \(packet.type) reason string of \(reason.utf8.count) bytes")
        }
        if !requestProblemInformation, ![PacketType.connack, .publish, .disconnect].contains(packet.type),
            properties.contains(.reasonString) || properties.contains(.userProperty)
        {
            fuzzIssue("\(label): \(packet.type) carries a reason string or user property after Request Problem Information 0")
        }
        switch packet {
        case .connack(let ack):
            connack = ack
        case .disconnect(let disconnect):
            serverDisconnect = disconnect
            if !serverDisconnectCodes.contains(disconnect.reasonCode) {
                fuzzIssue("\(label): DISCONNECT reason 0x\(String(disconnect.reasonCode, radix: 16)) is not one a server may send")
            }
        case .publish(let publish):
            checkDelivery(publish)
        case .pubrel(let ack):
            // Our PUBREC's answer; PUBCOMP completes it.
            if inflight[ack.packetId] == .exactlyOnce { released.insert(ack.packetId) }
        default:
            break
        }
    }

    private func checkDelivery(_ publish: PublishPacket) {
        if let alias = publish.topicAlias {
            if alias == 0 || Int(alias) > topicAliasMaximum {
                fuzzIssue("\(label): topic alias \(alias) outside the client's maximum \(topicAliasMaximum)")
            } else if publish.topic.isEmpty {
                if serverAliases[alias] == nil { fuzzIssue("\(label): topic alias \(alias) used before it was assigned") }
            } else {
                serverAliases[alias] = publish.topic
            }
        } else if publish.topic.isEmpty {
            fuzzIssue("\(label): PUBLISH with an empty topic and no alias")
        }
        if version == .v5, !publish.topic.isEmpty || publish.topicAlias != nil {
            // The subscription identifiers a client gave come back; none other.
            for id in publish.properties.subscriptionIdentifiers where id == 0 {
                fuzzIssue("\(label): subscription identifier 0 in a delivery")
            }
        }
        guard let id = publish.packetId else { return }
        if inflight[id] != nil, !publish.dup {
            fuzzIssue("\(label): packet identifier \(id) reused while still in flight")
        }
        inflight[id] = publish.qos
        let window = version == .v5 ? min(receiveMaximum, broker.limits.maxInflightMessages) : broker.limits.maxInflightMessages
        if inflight.count > window {
            fuzzIssue("\(label): \(inflight.count) deliveries in flight, above the window of \(window)")
        }
    }

    /// The client acknowledged a delivery (the packet it sent for it).
    func acknowledged(_ packet: MQTTPacket) {
        switch packet {
        case .puback(let ack): inflight[ack.packetId] = nil
        case .pubrec(let ack) where ack.isFailure: inflight[ack.packetId] = nil
        case .pubcomp(let ack):
            inflight[ack.packetId] = nil
            released.remove(ack.packetId)
        default: break
        }
    }
}

extension MQTTPacket {
    /// The packet's properties (none for PINGREQ and PINGRESP).
    var properties: MQTTProperties {
        switch self {
        case .connect(let p): return p.properties
        case .connack(let p): return p.properties
        case .publish(let p): return p.properties
        case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): return p.properties
        case .subscribe(let p): return p.properties
        case .suback(let p): return p.properties
        case .unsubscribe(let p): return p.properties
        case .unsuback(let p): return p.properties
        case .disconnect(let p): return p.properties
        case .auth(let p): return p.properties
        case .pingreq, .pingresp: return .none
        }
    }
}
