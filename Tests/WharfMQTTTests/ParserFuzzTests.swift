import Foundation
import NIOCore
import Testing
import WharfTestSupport

@testable import WharfMQTT

/// Seeded fuzzing of the codec (issue 12): random and mutated byte streams
/// through `MQTTPacketParser` in both roles and both protocol versions, whole
/// and drip-fed, and random valid packets of every type through an encode ->
/// parse round trip. The parser must parse, ask for more bytes, or throw an
/// `MQTTDecodeError`: never trap, never spin, and how the bytes were split
/// must not change what comes out.
///
/// Each case has its own seed, derived from the run's base seed; a failure
/// names it, and a trap prints it through `CrashBreadcrumb`. To replay one
/// case, put its seed in `replay` below (or set WHARF_FUZZ_SEED to use
/// another base seed for a whole run, and WHARF_FUZZ_SCALE to multiply the
/// iteration counts, e.g. for a longer run outside CI).
@Suite struct ParserFuzzTests {
    static let baseSeed: UInt64 = ProcessInfo.processInfo.environment["WHARF_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_12_0005
    static let scale: Int = ProcessInfo.processInfo.environment["WHARF_FUZZ_SCALE"].flatMap { Int($0) } ?? 1

    /// Seeds of cases to run on their own before the random ones (a failing
    /// case found by a run goes here while it is being fixed).
    static let replay: [UInt64] = []

    /// The seeds of a run: the replayed ones, then `count` derived from `salt`.
    private static func seeds(_ count: Int, salt: UInt64) -> [UInt64] {
        var rng = FuzzRandom(seed: baseSeed ^ salt)
        return replay + (0..<(count * scale)).map { _ in rng.childSeed() }
    }

    // MARK: Oracles

    /// Whole, one byte at a time and in random chunks: the same packets, the
    /// same error or the same bytes left waiting. Every packet parsed is
    /// written back by the encoder and parses to itself.
    private func checkSplitsAgree(
        _ bytes: ByteBuffer, parser: MQTTPacketParser, rng: inout FuzzRandom, _ label: String
    ) {
        let whole = parseWhole(bytes, parser: parser)
        // Byte by byte for what stays cheap, random chunks for all.
        if bytes.readableBytes <= 4_096 {
            let dripped = parseInChunks(bytes, parser: parser) { _ in 1 }
            #expect(dripped == whole, "\(label): drip-fed \(dripped) but whole \(whole)")
        }
        var chunkRandom = FuzzRandom(seed: rng.next())
        let chunked = parseInChunks(bytes, parser: parser) { _ in chunkRandom.int(1...4_096) }
        #expect(chunked == whole, "\(label): in chunks \(chunked) but whole \(whole)")
        checkReencodes(whole.packets, parser: parser, label)
    }

    /// What the parser accepts, the encoder can write and the parser reads
    /// back as the same value, at the protocol level in force for it (which
    /// a CONNECT in the stream changes).
    private func checkReencodes(_ packets: [MQTTPacket], parser: MQTTPacketParser, _ label: String) {
        var version = parser.version
        for packet in packets {
            if case .connect(let connect) = packet { version = connect.version }
            guard !Self.knownLenientDecode(packet, version: version) else { continue }
            var reparser = MQTTPacketParser(version: version, asClient: parser.asClient)
            var buffer = encoded(packet, version: version)
            let size = buffer.readableBytes
            do {
                let again = try reparser.parse(&buffer)
                #expect(again == packet, "\(label): \(packet.type) re-encoded at \(version) parses differently")
                #expect(
                    buffer.readableBytes == 0 && reparser.lastPacketSize == size, "\(label): re-encoded \(packet.type) not consumed exactly"
                )
            } catch {
                Issue.record("\(label): \(packet.type) accepted by the parser, re-encoded at \(version), then refused: \(error)")
            }
        }
    }

    /// Client-side decodes that accept codes the encoder normalises (left
    /// alone: the server never parses these, and the bench/demo clients only
    /// read them): a 3.1.1 SUBACK code other than 0, 1, 2 or 0x80 (the
    /// encoder writes 0x80), and a 5.0 CONNACK code 1...5 (the encoder maps
    /// 3.1.1 codes to their 5.0 counterparts).
    static func knownLenientDecode(_ packet: MQTTPacket, version: ProtocolVersion) -> Bool {
        switch packet {
        case .suback(let suback) where version != .v5:
            return suback.returnCodes.contains { ![0, 1, 2, 0x80].contains($0.rawValue) }
        case .connack(let connack) where version == .v5:
            return (1...5).contains(connack.returnCode.rawValue)
        default:
            return false
        }
    }

    private func randomParser(_ rng: inout FuzzRandom) -> (MQTTPacketParser, String) {
        let version = rng.pick([ProtocolVersion.v3_1_1, .v5, .v3_1])
        let direction = rng.pick(FuzzDirection.allCases)
        let maxPacketSize = rng.pick([64, 1_024, 1 << 20, ByteBuffer.maxVariableByteInteger + 5])
        return (
            MQTTPacketParser(maxPacketSize: maxPacketSize, version: version, asClient: direction.asClient),
            "\(version) \(direction) max \(maxPacketSize)"
        )
    }

    // MARK: Random bytes

    /// Random byte strings: often a plausible first byte and a remaining
    /// length that matches, sometimes one that does not, sometimes noise.
    @Test(.timeLimit(.minutes(2)))
    func randomBytes() {
        defer { CrashBreadcrumb.clear(0) }
        let started = ContinuousClock.now
        for seed in Self.seeds(2_000, salt: 1) {
            CrashBreadcrumb.set(0, "ParserFuzzTests.randomBytes seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            let (parser, setup) = randomParser(&rng)
            var bytes = ByteBuffer()
            for _ in 0..<rng.int(1...4) {
                let body = rng.bytes(rng.length(upTo: 600))
                switch rng.int(0...3) {
                case 0:  // noise
                    bytes.writeBytes(rng.bytes(rng.length(upTo: 300)))
                case 1:  // a header with a random remaining length
                    bytes.writeInteger(rng.byte())
                    bytes.writeBytes(rng.bytes(rng.int(0...5)))
                    bytes.writeBytes(body)
                default:  // a plausible header, its length matching the body
                    let type = UInt8(rng.int(0...15))
                    let flags: UInt8 =
                        rng.oneIn(4)
                        ? UInt8(rng.int(0...15)) : [6, 8, 10].contains(type) ? 2 : type == 3 ? UInt8(rng.int(0...15)) & 0x0B : 0
                    bytes.writeInteger(type << 4 | flags)
                    bytes.writeVariableByteInteger(body.count)
                    bytes.writeBytes(body)
                }
            }
            checkSplitsAgree(bytes, parser: parser, rng: &rng, "randomBytes seed \(seed) (\(setup))")
        }
        print("ParserFuzzTests.randomBytes: \(2_000 * Self.scale) cases in \(ContinuousClock.now - started)")
    }

    // MARK: Mutated valid packets

    /// Valid streams (a CONNECT first, or the parser already at the level),
    /// then bit flips, byte changes, truncation, insertion, deletion,
    /// tampered remaining lengths (huge ones too) and tampered string lengths.
    @Test(.timeLimit(.minutes(2)))
    func mutatedPackets() {
        defer { CrashBreadcrumb.clear(1) }
        let started = ContinuousClock.now
        for seed in Self.seeds(1_000, salt: 2) {
            CrashBreadcrumb.set(1, "ParserFuzzTests.mutatedPackets seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            let version = rng.pick([ProtocolVersion.v3_1_1, .v5])
            let direction = rng.pick(FuzzDirection.allCases)
            var bytes = ByteBuffer()
            var parser = MQTTPacketParser(version: version, asClient: direction.asClient)
            if direction == .toServer, rng.bool() {
                // The parser starts at 3.1.1 and follows the CONNECT.
                parser = MQTTPacketParser(asClient: false)
                bytes.writeImmutableBuffer(encoded(.connect(ConnectPacket(version: version, clientId: "fuzz")), version: version))
            }
            for _ in 0..<rng.int(1...3) {
                let packet = fuzzValidPacket(&rng, version: version, direction: direction)
                // A CONNECT would change the level under the rest.
                if case .connect = packet { continue }
                bytes.writeImmutableBuffer(encoded(packet, version: version))
            }
            var mutated = Array(bytes.readableBytesView)
            var applied: [String] = []
            for _ in 0..<rng.int(1...4) { applied.append(mutate(&mutated, &rng)) }
            parser.maxPacketSize = rng.oneIn(4) ? rng.int(2...2_048) : parser.maxPacketSize
            checkSplitsAgree(
                ByteBuffer(bytes: mutated), parser: parser, rng: &rng,
                "mutatedPackets seed \(seed) (\(version) \(direction), \(applied.joined(separator: ", ")))"
            )
        }
        print("ParserFuzzTests.mutatedPackets: \(1_000 * Self.scale) cases in \(ContinuousClock.now - started)")
    }

    /// One mutation of `bytes`; returns what it did.
    private func mutate(_ bytes: inout [UInt8], _ rng: inout FuzzRandom) -> String {
        guard !bytes.isEmpty else {
            bytes = rng.bytes(rng.int(1...8))
            return "noise"
        }
        let at = rng.int(0...(bytes.count - 1))
        switch rng.int(0...9) {
        case 0:
            bytes[at] ^= 1 << UInt8(rng.int(0...7))
            return "bit flip at \(at)"
        case 1:
            bytes[at] = rng.pick([0x00, 0x7F, 0x80, 0xFF, rng.byte()])
            return "byte at \(at)"
        case 2:
            bytes.removeSubrange(at...)
            return "truncated to \(at)"
        case 3:
            bytes.insert(contentsOf: rng.bytes(rng.int(1...8)), at: at)
            return "insert at \(at)"
        case 4:
            bytes.removeSubrange(at..<min(bytes.count, at + rng.int(1...8)))
            return "delete at \(at)"
        case 5, 6:
            // The first packet's remaining length, rewritten (maybe non-minimal, huge, or 5 bytes).
            var length = 0
            while length < 4, 1 + length < bytes.count, bytes[1 + length] & 0x80 != 0 { length += 1 }
            let end = min(bytes.count, 2 + length)
            let value = rng.pick([
                0, 1, 127, 128, 16_383, 16_384, 2_097_151, ByteBuffer.maxVariableByteInteger, bytes.count - end + rng.int(-3...3),
            ])
            var header = ByteBuffer()
            if rng.oneIn(5) {
                header.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0x7F])  // five bytes: malformed
            } else {
                header.writeVariableByteInteger(max(0, value))
            }
            if rng.oneIn(5), header.readableBytes < 4 {  // the same value, one byte longer than needed
                var raw = Array(header.readableBytesView)
                raw[raw.count - 1] |= 0x80
                raw.append(0)
                header = ByteBuffer(bytes: raw)
            }
            bytes.replaceSubrange(min(1, bytes.count)..<end, with: header.readableBytesView)
            return "remaining length \(value)"
        case 7:
            // A 2-byte length field somewhere in the body.
            guard bytes.count > at + 1 else { return "none" }
            let value = rng.pick([0, 1, 0xFFFF, 0x8000, Int(bytes[at]) << 8 | Int(bytes[at + 1]) + rng.int(-2...2)])
            bytes[at] = UInt8(truncatingIfNeeded: value >> 8)
            bytes[at + 1] = UInt8(truncatingIfNeeded: value)
            return "u16 at \(at) = \(value)"
        case 8:
            bytes[0] = UInt8(rng.int(0...15)) << 4 | UInt8(rng.int(0...15))
            return "first byte \(bytes[0])"
        default:
            bytes += bytes[at...]
            return "repeat from \(at)"
        }
    }

    // MARK: Encoder round trip

    /// Random valid packets of every type, both levels, both directions:
    /// long strings, many properties and user properties, many filters,
    /// binary fields up to 65,535 bytes. Encode, parse: the same packet, its
    /// bytes consumed exactly, whole or however split.
    @Test(.timeLimit(.minutes(2)))
    func encoderRoundTrip() {
        defer { CrashBreadcrumb.clear(2) }
        let started = ContinuousClock.now
        var perType: [PacketType: Int] = [:]
        for seed in Self.seeds(1_000, salt: 3) {
            CrashBreadcrumb.set(2, "ParserFuzzTests.encoderRoundTrip seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            let version = rng.pick([ProtocolVersion.v3_1_1, .v5])
            let direction = rng.pick(FuzzDirection.allCases)
            let packet = fuzzValidPacket(&rng, version: version, direction: direction)
            perType[packet.type, default: 0] += 1
            let label = "encoderRoundTrip seed \(seed) (\(packet.type) \(version) \(direction))"
            let bytes = encoded(packet, version: version)
            let parser = MQTTPacketParser(version: version, asClient: direction.asClient)
            let whole = parseWhole(bytes, parser: parser)
            #expect(whole.packets == [packet], "\(label): parsed as \(whole)")
            #expect(whole.sizes == [bytes.readableBytes] && whole.pendingBytes == 0, "\(label): \(whole)")
            checkSplitsAgree(bytes, parser: parser, rng: &rng, label)
        }
        // Every type of both directions came up.
        #expect(Set(perType.keys) == Set(PacketType.allCases), "types generated: \(perType)")
        print(
            "ParserFuzzTests.encoderRoundTrip: \(1_000 * Self.scale) cases in \(ContinuousClock.now - started), by type \(perType.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" })"
        )
    }

    /// Fields at exactly the limits a 2-byte length allows, in every packet
    /// that has one: 65,535-byte topics, client ids, user names, filters,
    /// property strings and binary data.
    @Test(arguments: [ProtocolVersion.v3_1_1, .v5])
    func fieldsAtTheirLimits(version: ProtocolVersion) {
        let max = String(repeating: "x", count: 65_535)
        let maxBinary = ByteBuffer(repeating: 0xA5, count: 65_535)
        var props = MQTTProperties()
        if version == .v5 {
            props.append(.userProperty, .stringPair(max, max))
            props.append(.correlationData, .binary(maxBinary))
            props.append(.contentType, .string(max))
            props.append(.responseTopic, .string(max))
        }
        var ackProps = MQTTProperties()
        if version == .v5 { ackProps.append(.reasonString, .string(max)) }
        let toServer: [MQTTPacket] = [
            .connect(
                ConnectPacket(
                    version: version, clientId: max, will: .init(topic: max, payload: maxBinary, qos: .exactlyOnce, retain: true),
                    username: max, password: maxBinary
                )),
            .publish(PublishPacket(topic: max, payload: maxBinary, qos: .atLeastOnce, packetId: 65_535, properties: props)),
            .subscribe(
                SubscribePacket(packetId: 1, subscriptions: [.init(filter: max, qos: .exactlyOnce), .init(filter: max, qos: .atMostOnce)])),
            .unsubscribe(UnsubscribePacket(packetId: 1, filters: [max, max])),
        ]
        let toClient: [MQTTPacket] =
            [
                .publish(PublishPacket(topic: max, payload: maxBinary, qos: .exactlyOnce, packetId: 1, properties: props)),
                .suback(SubAckPacket(packetId: 2, returnCodes: Array(repeating: .failure, count: 70_000), properties: ackProps)),
            ]
            + (version == .v5
                ? [
                    .puback(PublishAckPacket(packetId: 3, reasonCode: 0x80, properties: ackProps)),
                    .disconnect(DisconnectPacket(reasonCode: 0x81, properties: ackProps)),
                    .connack(ConnAckPacket(sessionPresent: false, returnCode: ConnectReturnCode(rawValue: 0x86), properties: ackProps)),
                ] : [])
        for (packets, asClient) in [(toServer, false), (toClient, true)] {
            for packet in packets {
                let bytes = encoded(packet, version: version)
                let whole = parseWhole(bytes, parser: MQTTPacketParser(version: version, asClient: asClient))
                #expect(whole.packets == [packet], "\(packet.type) at \(version): \(whole)")
            }
        }
    }

    // MARK: Remaining lengths

    /// Every first byte with the largest remaining length there is, with
    /// one byte too many, and with non-minimal encodings: waiting for more,
    /// packet too large or malformed, never a trap or a wrong packet size.
    @Test func extremeRemainingLengths() throws {
        for first in 0...255 {
            for version in [ProtocolVersion.v3_1_1, .v5] {
                for asClient in [false, true] {
                    let parser = MQTTPacketParser(version: version, asClient: asClient)
                    let reserved = first >> 4 == 0 || (first >> 4 == 15 && version != .v5)
                    // 268,435,455: the parser's default limit holds it, so it waits for the body.
                    let huge = parseWhole(ByteBuffer(bytes: [UInt8(first), 0xFF, 0xFF, 0xFF, 0x7F, 0x00]), parser: parser)
                    #expect(
                        reserved ? huge.error == .reservedPacketType(UInt8(first >> 4)) : huge.pendingBytes == 6,
                        "0x\(String(first, radix: 16)): \(huge)")
                    // Under a smaller limit it is refused as soon as its length is known.
                    var limited = parser
                    limited.maxPacketSize = 1 << 20
                    let refused = parseInChunks(ByteBuffer(bytes: [UInt8(first), 0xFF, 0xFF, 0xFF, 0x7F]), parser: limited) { _ in 1 }
                    #expect(
                        reserved
                            ? refused.error == .reservedPacketType(UInt8(first >> 4))
                            : refused.error == .packetTooLarge(size: 268_435_460, limit: 1 << 20),
                        "0x\(String(first, radix: 16)): \(refused)")
                    // A fifth length byte is malformed.
                    let five = parseWhole(ByteBuffer(bytes: [UInt8(first), 0x80, 0x80, 0x80, 0x80, 0x01]), parser: parser)
                    #expect(
                        reserved ? five.error == .reservedPacketType(UInt8(first >> 4)) : five.error == .malformedRemainingLength,
                        "0x\(String(first, radix: 16)): \(five)")
                }
            }
        }
        // Non-minimal encodings (5.0 1.5.5 and 3.1.1 2.2.3 ask for the
        // fewest bytes, so refusing them is allowed; the parser accepts
        // them): a PINGREQ of remaining length 0 written in 1 to 4 bytes is
        // either one packet of exactly that size or a decode error.
        for extra in 0...3 {
            let header: [UInt8] = [0xC0] + Array(repeating: 0x80, count: extra) + [0x00]
            let outcome = parseWhole(ByteBuffer(bytes: header), parser: MQTTPacketParser())
            #expect(outcome.error != nil || (outcome.packets == [.pingreq] && outcome.sizes == [header.count]), "\(header): \(outcome)")
        }
    }

    // MARK: Corpus

    /// Every file in Tests/fuzz-corpus (raw client byte streams, each from
    /// its CONNECT on; see make_corpus.py) through a server-side parser:
    /// whole, in random chunks, and one byte at a time through the stream's
    /// first and last kilobyte (where every packet's header is; the 65 KB
    /// bodies in between in 997-byte steps): the same outcome, no trap. Under a 4 KB
    /// limit each is refused as too large, whole or in chunks alike.
    @Test func corpus() throws {
        defer { CrashBreadcrumb.clear(3) }
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz-corpus")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".bin") }.sorted()
        #expect(files.count >= 7, "corpus files in \(directory.path): \(files)")
        var rng = FuzzRandom(seed: Self.baseSeed)
        for file in files {
            CrashBreadcrumb.set(3, "ParserFuzzTests.corpus \(file)")
            let bytes = ByteBuffer(bytes: try Data(contentsOf: directory.appendingPathComponent(file)))
            let total = bytes.readableBytes
            let parser = MQTTPacketParser(maxPacketSize: 1 << 20)
            checkSplitsAgree(bytes, parser: parser, rng: &rng, "corpus \(file)")
            let whole = parseWhole(bytes, parser: parser)
            let dripped = parseInChunks(bytes, parser: parser) { fed in fed < 1_024 || fed >= total - 1_024 ? 1 : 997 }
            #expect(dripped == whole, "corpus \(file): drip-fed \(dripped) but whole \(whole)")
            #expect(whole.packets.first?.type == .connect, "corpus \(file) starts with CONNECT: \(whole)")
            let limited = MQTTPacketParser(maxPacketSize: 4_096)
            let refused = parseWhole(bytes, parser: limited)
            #expect(
                refused.error.map { if case .packetTooLarge = $0 { true } else { false } } ?? false, "corpus \(file) under 4 KB: \(refused)"
            )
            checkSplitsAgree(bytes, parser: limited, rng: &rng, "corpus \(file) (max 4096)")
        }
    }
}
