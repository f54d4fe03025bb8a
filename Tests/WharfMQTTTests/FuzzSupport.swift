import NIOCore
import Testing
import WharfTestSupport

@testable import WharfMQTT

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Support for the seeded fuzz tests (ParserFuzzTests): random valid packets
// of every type, and parsing a stream whole or in chunks. The seeded
// generator and the crash breadcrumb are in WharfTestSupport.

/// Valid UTF-8 without U+0000 (what a 2-byte-length string field may hold),
/// at most `maxBytes` bytes: mostly ASCII (control characters too), with
/// 2-, 3- and 4-byte scalars sprinkled in. Long ones are built in bulk.
func fuzzString(_ rng: inout FuzzRandom, maxBytes: Int) -> String {
    let target = rng.length(upTo: maxBytes)
    var bytes = rng.bytes(target)
    var index = 0
    while index < target {
        let draw = rng.int(0...19)
        let scalar: UInt32
        switch draw {
        case 0: scalar = UInt32(rng.int(0x80...0x7FF))
        case 1: scalar = UInt32(rng.int(0x800...0xD7FF))
        case 2: scalar = UInt32(rng.int(0x1_0000...0x10_FFFF))
        default: scalar = 0
        }
        if scalar != 0 {
            let utf8 = Array(String(Unicode.Scalar(scalar)!).utf8)
            if index + utf8.count <= target {
                bytes.replaceSubrange(index..<(index + utf8.count), with: utf8)
                index += utf8.count
            } else {
                bytes[index] = UInt8(ascii: "z")
                index += 1
            }
        } else {
            // A run of ASCII (1...127): long strings cost a few draws, not one per byte.
            let run = min(target - index, target > 256 ? rng.int(1...512) : 1)
            for i in index..<(index + run) {
                let ascii = bytes[i] & 0x7F
                bytes[i] = ascii == 0 ? UInt8(ascii: "a") : ascii
            }
            index += run
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A valid topic name: at least one byte, no wildcard, no U+0000.
func fuzzTopicName(_ rng: inout FuzzRandom, maxBytes: Int = 200) -> String {
    let raw = fuzzString(&rng, maxBytes: maxBytes).unicodeScalars.map { scalar -> Unicode.Scalar in
        scalar == "+" ? "p" : scalar == "#" ? "h" : scalar
    }
    return raw.isEmpty ? "t" : String(String.UnicodeScalarView(raw))
}

func fuzzBinary(_ rng: inout FuzzRandom, maxBytes: Int = 65_535) -> ByteBuffer {
    ByteBuffer(bytes: rng.bytes(rng.length(upTo: maxBytes)))
}

/// Which side sends a packet: the parser runs as a server (client-bound
/// false) or as a client (`asClient`, server-to-client packets).
enum FuzzDirection: CaseIterable, CustomStringConvertible {
    case toServer, toClient
    var asClient: Bool { self == .toClient }
    var description: String { self == .toServer ? "client->server" : "server->client" }
}

/// Properties valid in `context` as the parser checks them: allowed there,
/// at most once unless repeatable, values inside what the spec allows.
/// `many` adds up to a few hundred user properties.
func fuzzProperties(
    _ rng: inout FuzzRandom, in context: PropertyIdentifier.Context, asClient: Bool = true, maxStringBytes: Int = 2_048
) -> MQTTProperties {
    var properties = MQTTProperties()
    guard !rng.oneIn(3) else { return properties }
    let candidates = (0..<64).map { PropertyIdentifier(rawValue: UInt8($0)) }.filter { identifier in
        guard let definition = identifier.definition, definition.allowedIn.contains(context) else { return false }
        // A client may not put a subscription identifier in its PUBLISH.
        if identifier == .subscriptionIdentifier, context == .publish, !asClient { return false }
        return true
    }
    let count = rng.oneIn(8) ? rng.int(0...300) : rng.int(0...6)
    var used = Set<UInt8>()
    for _ in 0..<count {
        let identifier = rng.pick(candidates)
        if !identifier.isRepeatable(in: context) {
            guard !used.contains(identifier.rawValue) else { continue }
            used.insert(identifier.rawValue)
        }
        properties.append(identifier, fuzzPropertyValue(&rng, identifier, maxStringBytes: maxStringBytes))
    }
    return properties
}

func fuzzPropertyValue(_ rng: inout FuzzRandom, _ identifier: PropertyIdentifier, maxStringBytes: Int) -> MQTTProperty.Value {
    switch identifier {
    case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS, .retainAvailable,
        .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
        return .byte(UInt8(rng.int(0...1)))
    case .receiveMaximum:
        return .twoByteInteger(UInt16(rng.int(1...65_535)))
    case .maximumPacketSize:
        return .fourByteInteger(UInt32(rng.int(1...Int(UInt32.max))))
    case .subscriptionIdentifier:
        return .variableByteInteger(
            UInt32(
                rng.pick([
                    1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, ByteBuffer.maxVariableByteInteger,
                    rng.int(1...ByteBuffer.maxVariableByteInteger),
                ])))
    default:
        break
    }
    switch identifier.definition!.type {
    case .byte: return .byte(rng.byte())
    case .twoByteInteger: return .twoByteInteger(UInt16(truncatingIfNeeded: rng.next()))
    case .fourByteInteger: return .fourByteInteger(UInt32(truncatingIfNeeded: rng.next()))
    case .variableByteInteger: return .variableByteInteger(UInt32(rng.int(0...ByteBuffer.maxVariableByteInteger)))
    case .string: return .string(fuzzString(&rng, maxBytes: maxStringBytes))
    case .binary: return .binary(fuzzBinary(&rng, maxBytes: maxStringBytes))
    case .stringPair: return .stringPair(fuzzString(&rng, maxBytes: maxStringBytes / 4), fuzzString(&rng, maxBytes: maxStringBytes / 4))
    }
}

/// A random packet the encoder can write and the parser (in `direction`,
/// at `version`) must read back as the same value. Every packet type of the
/// direction, optional parts varied, fields sometimes at their limits.
func fuzzValidPacket(_ rng: inout FuzzRandom, version: ProtocolVersion, direction: FuzzDirection) -> MQTTPacket {
    let v5 = version == .v5
    let packetId = UInt16(rng.pick([1, 65_535, rng.int(1...65_535)]))
    func props(_ context: PropertyIdentifier.Context, _ rng: inout FuzzRandom) -> MQTTProperties {
        v5 ? fuzzProperties(&rng, in: context, asClient: direction.asClient) : .none
    }
    func ack(_ rng: inout FuzzRandom) -> PublishAckPacket {
        guard v5 else { return PublishAckPacket(packetId: packetId) }
        let code = rng.pick([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x92, 0x97, 0x99, UInt8(rng.byte())] as [UInt8])
        return PublishAckPacket(packetId: packetId, reasonCode: code, properties: props(.publishAck, &rng))
    }
    let common = [PacketType.publish, .puback, .pubrec, .pubrel, .pubcomp, .disconnect] + (v5 ? [.auth] : [])
    let types: [PacketType] =
        direction == .toServer
        ? common + [.connect, .subscribe, .unsubscribe, .pingreq]
        : common + [.connack, .suback, .unsuback, .pingresp]
    switch rng.pick(types) {
    case .connect:
        // A CONNECT names its own level; the parser follows it.
        let level = v5 ? ProtocolVersion.v5 : rng.pick([ProtocolVersion.v3_1, .v3_1_1])
        let willQoS = QoS(rawValue: UInt8(rng.int(0...2)))!
        let will: ConnectPacket.Will? =
            rng.bool()
            ? nil
            : ConnectPacket.Will(
                topic: fuzzTopicName(&rng, maxBytes: rng.oneIn(10) ? 65_535 : 300), payload: fuzzBinary(&rng),
                qos: willQoS, retain: rng.bool(), properties: level == .v5 ? fuzzProperties(&rng, in: .will) : .none
            )
        var username: String? = rng.bool() ? fuzzString(&rng, maxBytes: 65_535) : nil
        let password: ByteBuffer? = rng.bool() ? fuzzBinary(&rng) : nil
        // 3.1 and 3.1.1 need a user name before a password.
        if password != nil, username == nil, level != .v5 { username = "u" }
        return .connect(
            ConnectPacket(
                version: level, clientId: fuzzString(&rng, maxBytes: 65_535), cleanSession: rng.bool(),
                keepAlive: UInt16(truncatingIfNeeded: rng.next()), will: will, username: username, password: password,
                properties: level == .v5 ? fuzzProperties(&rng, in: .connect) : .none
            ))
    case .connack:
        let code: UInt8 =
            v5
            ? rng.pick([0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x9C, 0x9D, 0x9F])
            : UInt8(rng.int(0...5))
        return .connack(
            ConnAckPacket(
                sessionPresent: rng.bool(), returnCode: ConnectReturnCode(rawValue: code), properties: props(.connack, &rng)
            ))
    case .publish:
        let qos = QoS(rawValue: UInt8(rng.int(0...2)))!
        let topic = v5 && rng.oneIn(6) ? "" : fuzzTopicName(&rng, maxBytes: rng.oneIn(10) ? 65_535 : 300)
        return .publish(
            PublishPacket(
                topic: topic, payload: fuzzBinary(&rng, maxBytes: rng.oneIn(20) ? 200_000 : 4_096), qos: qos, retain: rng.bool(),
                dup: qos != .atMostOnce && rng.bool(), packetId: qos == .atMostOnce ? nil : packetId, properties: props(.publish, &rng)
            ))
    case .puback: return .puback(ack(&rng))
    case .pubrec: return .pubrec(ack(&rng))
    case .pubrel: return .pubrel(ack(&rng))
    case .pubcomp: return .pubcomp(ack(&rng))
    case .subscribe:
        let count = rng.oneIn(8) ? rng.int(1...2_000) : rng.int(1...5)
        let subscriptions = (0..<count).map { _ in
            SubscribePacket.Subscription(
                filter: fuzzString(&rng, maxBytes: count > 100 ? 30 : 1_000), qos: QoS(rawValue: UInt8(rng.int(0...2)))!,
                noLocal: v5 && rng.bool(), retainAsPublished: v5 && rng.bool(), retainHandling: v5 ? UInt8(rng.int(0...2)) : 0
            )
        }
        return .subscribe(SubscribePacket(packetId: packetId, subscriptions: subscriptions, properties: props(.subscribe, &rng)))
    case .suback:
        let count = rng.oneIn(8) ? rng.int(1...5_000) : rng.int(1...5)
        let allowed: [UInt8] = v5 ? [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] : [0, 1, 2, 0x80]
        return .suback(
            SubAckPacket(
                packetId: packetId, returnCodes: (0..<count).map { _ in SubscribeReturnCode(rawValue: rng.pick(allowed)) },
                properties: props(.suback, &rng)
            ))
    case .unsubscribe:
        let count = rng.oneIn(8) ? rng.int(1...2_000) : rng.int(1...5)
        return .unsubscribe(
            UnsubscribePacket(
                packetId: packetId, filters: (0..<count).map { _ in fuzzString(&rng, maxBytes: count > 100 ? 30 : 1_000) },
                properties: props(.unsubscribe, &rng)
            ))
    case .unsuback:
        guard v5 else { return .unsuback(UnsubAckPacket(packetId: packetId)) }
        let count = rng.oneIn(8) ? rng.int(0...5_000) : rng.int(1...5)
        return .unsuback(
            UnsubAckPacket(
                packetId: packetId, reasonCodes: (0..<count).map { _ in rng.pick([0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]) },
                properties: props(.unsuback, &rng)
            ))
    case .pingreq: return .pingreq
    case .pingresp: return .pingresp
    case .disconnect:
        guard v5 else { return .disconnect(DisconnectPacket()) }
        return .disconnect(
            DisconnectPacket(
                reasonCode: rng.pick([0x00, 0x04, 0x80, 0x81, 0x82, 0x8B, 0x8E, 0x93, 0x95, UInt8(rng.byte())]),
                properties: props(.disconnect, &rng)))
    case .auth:
        return .auth(AuthPacket(reasonCode: rng.pick([0x00, 0x18, 0x19]), properties: props(.auth, &rng)))
    }
}

func encoded(_ packet: MQTTPacket, version: ProtocolVersion) -> ByteBuffer {
    var buffer = ByteBuffer()
    packet.encode(into: &buffer, version: version)
    return buffer
}

// MARK: What a parser made of a byte stream

/// Everything a parser made of a byte stream: the packets with their wire
/// sizes, then how it stopped (waiting for more bytes, or an error).
struct ParseOutcome: Equatable, CustomStringConvertible {
    var packets: [MQTTPacket] = []
    var sizes: [Int] = []
    var error: MQTTDecodeError?
    /// Bytes left unparsed when the parser asked for more (nil after an error).
    var pendingBytes: Int?

    var description: String {
        "\(packets.count) packets \(packets.map(\.type)), "
            + (error.map { "error \($0)" } ?? "waiting with \(pendingBytes ?? 0) bytes")
    }
}

/// Parses `bytes` handed over in one buffer. The loop is bounded: a packet
/// is at least two bytes, so a parser that returns packets without consuming
/// is caught, not spun on.
func parseWhole(_ bytes: ByteBuffer, parser: MQTTPacketParser) -> ParseOutcome {
    var parser = parser
    var buffer = bytes
    var outcome = ParseOutcome()
    for _ in 0...(bytes.readableBytes / 2 + 1) {
        let before = buffer.readerIndex
        do {
            guard let packet = try parser.parse(&buffer) else {
                outcome.pendingBytes = buffer.readableBytes
                return outcome
            }
            #expect(buffer.readerIndex - before == parser.lastPacketSize, "a packet consumes exactly its wire size")
            guard buffer.readerIndex - before >= 2 else {
                Issue.record("parser returned a packet without consuming at least 2 bytes")
                return outcome
            }
            outcome.packets.append(packet)
            outcome.sizes.append(parser.lastPacketSize)
        } catch {
            outcome.error = error
            return outcome
        }
    }
    Issue.record("parser did not stop within \(bytes.readableBytes / 2 + 1) calls")
    return outcome
}

/// Parses `bytes` handed over in chunks (`chunk` gives each size; 1 is a
/// drip-feed), parsing everything available after each chunk, as the NIO
/// decoder does.
func parseInChunks(_ bytes: ByteBuffer, parser: MQTTPacketParser, chunk: (Int) -> Int) -> ParseOutcome {
    var parser = parser
    var source = bytes
    var pending = ByteBuffer()
    var outcome = ParseOutcome()
    var calls = 0
    var fed = 0
    while source.readableBytes > 0 {
        var slice = source.readSlice(length: min(source.readableBytes, max(1, chunk(fed))))!
        fed += slice.readableBytes
        pending.writeBuffer(&slice)
        while true {
            calls += 1
            guard calls <= bytes.readableBytes * 2 + 2 else {
                Issue.record("parser did not stop within \(calls) calls")
                return outcome
            }
            do {
                guard let packet = try parser.parse(&pending) else { break }
                outcome.packets.append(packet)
                outcome.sizes.append(parser.lastPacketSize)
            } catch {
                outcome.error = error
                return outcome
            }
        }
        // Nothing consumed until a packet is whole: what waits is bounded by what was fed.
        if pending.readableBytes > fed {
            Issue.record("pending bytes grew past what was fed")
            return outcome
        }
    }
    outcome.pendingBytes = pending.readableBytes
    return outcome
}
