import Foundation
import NIOCore
import Testing
import WharfTestSupport

@testable import WharfNATS

/// Seeded fuzzing of the NATS parser: streams of valid server operations,
/// mutated (bytes flipped, inserted, deleted, lengths changed), and pure
/// noise, parsed whole, byte by byte and in random chunks. The parser must
/// parse, wait for more, or throw a `NATSProtocolError`: never trap, and
/// how the bytes were split must not change what comes out.
/// WHARF_FUZZ_SEED and WHARF_FUZZ_SCALE work as for the MQTT parser's.
@Suite struct NATSParserFuzzTests {
    static let baseSeed: UInt64 = ProcessInfo.processInfo.environment["WHARF_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_17_0001
    static let scale: Int = ProcessInfo.processInfo.environment["WHARF_FUZZ_SCALE"].flatMap { Int($0) } ?? 1
    static let slot = 5

    private static func seeds(_ count: Int, salt: UInt64) -> [UInt64] {
        var rng = FuzzRandom(seed: baseSeed ^ salt)
        return (0..<(count * scale)).map { _ in rng.childSeed() }
    }

    /// One valid operation as a server would send it.
    private static func validOperation(_ rng: inout FuzzRandom) -> String {
        func token() -> String {
            let alphabet = Array("abcXYZ019_-$*>")
            return String((0..<rng.int(1...6)).map { _ in rng.pick(alphabet) })
        }
        func subject() -> String { (0..<rng.int(1...4)).map { _ in token() }.joined(separator: ".") }
        func payload() -> String {
            let alphabet = Array("ab \r\n\t{}:MSG")
            return String((0..<rng.length(upTo: 200)).map { _ in rng.pick(alphabet) })
        }
        switch rng.int(0...7) {
        case 0: return "PING\r\n"
        case 1: return "PONG\r\n"
        case 2: return "+OK\r\n"
        case 3: return "-ERR '\(token())'\r\n"
        case 4:
            return #"INFO {"server_id":"\#(token())","version":"2.9.10","max_payload":\#(rng.int(0...9_999_999)),"#
                + #""connect_urls":["127.0.0.1:\#(rng.int(1...65535))"]}"# + "\r\n"
        case 5:
            let body = payload()
            let reply = rng.bool() ? " " + subject() : ""
            return "MSG \(subject()) \(rng.int(1...99_999))\(reply) \(body.utf8.count)\r\n\(body)\r\n"
        default:
            var block = "NATS/1.0"
            if rng.bool() { block += " \(rng.pick([100, 404, 408, 409, 503]))" + (rng.bool() ? " \(token())" : "") }
            block += "\r\n"
            for _ in 0..<rng.int(0...3) {
                block += "\(token()): \(String(String.UnicodeScalarView(payload().unicodeScalars.filter { $0 != "\r" && $0 != "\n" })))\r\n"
            }
            block += "\r\n"
            let body = payload()
            let reply = rng.bool() ? " " + subject() : ""
            return "HMSG \(subject()) \(rng.int(1...99_999))\(reply) \(block.utf8.count) \(block.utf8.count + body.utf8.count)\r\n"
                + block + body + "\r\n"
        }
    }

    private static func validStream(_ rng: inout FuzzRandom) -> [UInt8] {
        Array((0..<rng.int(1...12)).map { _ in validOperation(&rng) }.joined().utf8)
    }

    private static func mutate(_ bytes: inout [UInt8], _ rng: inout FuzzRandom) {
        for _ in 0..<rng.int(1...4) {
            guard !bytes.isEmpty else {
                bytes.append(rng.byte())
                continue
            }
            let index = rng.int(0...(bytes.count - 1))
            switch rng.int(0...5) {
            case 0: bytes[index] = rng.byte()
            case 1: bytes.insert(rng.byte(), at: index)
            case 2: bytes.remove(at: index)
            case 3: bytes[index] = rng.pick(Array(" \r\n.9".utf8))
            case 4:
                // A length out of proportion.
                bytes.insert(contentsOf: Array(String(rng.pick([0, 1, 65_536, Int(Int32.max), Int.max])).utf8), at: index)
            default: bytes.removeSubrange(index..<min(bytes.count, index + rng.int(1...20)))
            }
        }
    }

    private func checkSplitsAgree(_ bytes: [UInt8], _ rng: inout FuzzRandom, _ label: String) {
        let parser = NATSProtocolParser(maxControlLine: 4_096, maxPayload: 1 << 20)
        let buffer = ByteBuffer(bytes: bytes)
        let whole = parseWhole(buffer, parser: parser)
        if bytes.count <= 2_048 {
            let dripped = parseInChunks(buffer, parser: parser) { _ in 1 }
            #expect(dripped == whole, "\(label): drip-fed \(dripped) but whole \(whole)")
        }
        var chunks = FuzzRandom(seed: rng.next())
        let chunked = parseInChunks(buffer, parser: parser) { _ in chunks.int(1...512) }
        #expect(chunked == whole, "\(label): in chunks \(chunked) but whole \(whole)")
    }

    @Test func validStreamsParseCompletely() {
        for seed in Self.seeds(300, salt: 1) {
            CrashBreadcrumb.set(Self.slot, "NATSParserFuzzTests.validStreams seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            let bytes = Self.validStream(&rng)
            let outcome = parseWhole(ByteBuffer(bytes: bytes))
            #expect(outcome.error == nil && outcome.leftover == 0, "seed \(seed): \(outcome)")
            checkSplitsAgree(bytes, &rng, "seed \(seed)")
        }
        CrashBreadcrumb.clear(Self.slot)
    }

    @Test func mutatedStreamsNeverTrap() {
        for seed in Self.seeds(1_500, salt: 2) {
            CrashBreadcrumb.set(Self.slot, "NATSParserFuzzTests.mutated seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            var bytes = Self.validStream(&rng)
            Self.mutate(&bytes, &rng)
            checkSplitsAgree(bytes, &rng, "seed \(seed)")
        }
        CrashBreadcrumb.clear(Self.slot)
    }

    @Test func noiseNeverTraps() {
        for seed in Self.seeds(500, salt: 3) {
            CrashBreadcrumb.set(Self.slot, "NATSParserFuzzTests.noise seed \(seed)")
            var rng = FuzzRandom(seed: seed)
            var bytes = rng.bytes(rng.length(upTo: 3_000))
            // Noise behind a plausible start reaches the argument parsers.
            if rng.bool() { bytes.insert(contentsOf: Array(rng.pick(["MSG ", "HMSG ", "INFO ", "-ERR "]).utf8), at: 0) }
            checkSplitsAgree(bytes, &rng, "seed \(seed)")
        }
        CrashBreadcrumb.clear(Self.slot)
    }
}
