import Foundation
import NIOCore
import Testing
import WharfTestSupport

@testable import WharfNATS

@Suite(.timeLimit(.minutes(2))) struct KeyValueTests {
    static func bucket(ttl: Duration? = nil) async throws -> KeyValueBucket {
        let js = try await JetStreamTests.jetStream()
        return try await KeyValueBucket.ensure(
            KeyValueConfig(bucket: JetStreamTests.uniqueName("kv"), ttl: ttl, replicas: 3), in: js)
    }

    @Test func getPutCreateUpdateDeletePurge() async throws {
        let kv = try await Self.bucket()
        #expect(try await kv.get("a") == nil)
        let first = try await kv.create("a", ByteBuffer(string: "1"))
        // Only one creator wins.
        await #expect(throws: KeyValueError.keyExists("a", revision: first)) { try await kv.create("a", ByteBuffer(string: "x")) }
        let second = try await kv.update("a", ByteBuffer(string: "2"), lastRevision: first)
        // A stale revision loses the compare-and-swap.
        await #expect(throws: KeyValueError.wrongLastRevision("a")) {
            try await kv.update("a", ByteBuffer(string: "3"), lastRevision: first)
        }
        let entry = try #require(try await kv.get("a"))
        #expect(String(buffer: entry.value) == "2" && entry.revision == second)
        try await kv.delete("a")
        #expect(try await kv.get("a") == nil)
        #expect(try await kv.entry("a")?.operation == .delete)
        // A deleted key can be created again.
        try await kv.create("a", ByteBuffer(string: "again"))
        try await kv.put("b/c=d", ByteBuffer(string: "slashes"))
        try await kv.purge("b/c=d")
        #expect(try await kv.entry("b/c=d")?.operation == .purge)
        await #expect(throws: KeyValueError.invalidKey("a b")) { try await kv.put("a b", ByteBuffer()) }
        try await kv.jetStream.deleteStream(kv.streamName)
        await kv.jetStream.connection.close()
    }

    /// A read through the stream leader holds every acknowledged write: each
    /// CAS here reads the revision the previous one made, 50 times, with
    /// headers, and delete markers read as deletes.
    @Test func leaderReadsSeeEachWriteAsSoonAsItIsAcknowledged() async throws {
        let kv = try await Self.bucket()
        let headers = NATSHeaders(fields: [.init(name: "Wharf-Test", value: "yes")])
        var revision = try await kv.put("k", ByteBuffer(string: "0"), headers: headers)
        for round in 1...50 {
            let read = try #require(try await kv.entry("k", fromLeader: true))
            #expect(read.revision == revision && String(buffer: read.value) == "\(round - 1)")
            #expect(read.headers["Wharf-Test"] == "yes" && read.operation == .put)
            revision = try await kv.update("k", ByteBuffer(string: "\(round)"), lastRevision: read.revision, headers: headers)
        }
        try await kv.delete("k")
        #expect(try await kv.entry("k", fromLeader: true)?.operation == .delete)
        #expect(try await kv.entry("never", fromLeader: true) == nil)
        await kv.jetStream.connection.close()
    }

    /// Eight writers race to update one key from the revision they all
    /// read, twenty rounds: exactly one wins each round. (Without the
    /// `Nats-Msg-Id` of `compareAndSwap`, 2.9.10 let several win every round.)
    @Test func racingCompareAndSwapHasOneWinnerARound() async throws {
        let kv = try await Self.bucket()
        var revision = try await kv.put("k", ByteBuffer(string: "0"))
        for round in 0..<20 {
            let read = revision
            let results = await withTaskGroup(of: UInt64?.self) { group in
                for writer in 0..<8 {
                    group.addTask { try? await kv.update("k", ByteBuffer(string: "\(round).\(writer)"), lastRevision: read) }
                }
                return await group.reduce(into: [UInt64]()) { if let revision = $1 { $0.append(revision) } }
            }
            #expect(results.count == 1, "round \(round): \(results.count) writers won")
            revision = results.first ?? revision
        }
        await kv.jetStream.connection.close()
    }

    /// Each key's last value arrives, each key's values in the order they
    /// were written, then every change. Not "only the last values": the
    /// watcher's consumer is R1, and nats-server 2.9.10 puts an R1 consumer
    /// on any of the stream's peers, so one on a replica still applying
    /// the writes first gives a key's older value, then the newer one (as
    /// NATS's own watchers do; a CI run once saw it).
    @Test func watcherSeesTheLastValuesThenEveryChange() async throws {
        let kv = try await Self.bucket()
        for index in 0..<50 { try await kv.put("key\(index % 10)", ByteBuffer(string: "\(index)")) }
        let events = Inbox<KeyValueEntry>()
        let caughtUp = Inbox<Bool>()
        let watcher = KeyValueWatcher(bucket: kv, onCaughtUp: { caughtUp.add(true) }) { events.add($0) }
        await watcher.start()
        _ = try await caughtUp.wait(for: 1)
        let expected = Dictionary(uniqueKeysWithValues: (40..<50).map { ("key\($0 % 10)", "\($0)") })
        let initial = try await events.wait { Self.latestValues(in: $0) == expected }
        for key in expected.keys {
            let revisions = initial.filter { $0.key == key }.map(\.revision)
            #expect(revisions == revisions.sorted() && Set(revisions).count == revisions.count, "\(key): \(revisions)")
        }
        #expect(initial.allSatisfy { $0.operation == .put && Int(String(buffer: $0.value)).map { "key\($0 % 10)" } == $0.key })
        try await kv.put("key3", ByteBuffer(string: "new"))
        try await kv.delete("key4")
        let live = try await events.wait { $0.count >= initial.count + 2 }.dropFirst(initial.count)
        #expect(live.map { "\($0.key)=\(String(buffer: $0.value)) \($0.operation.rawValue)" } == ["key3=new PUT", "key4= DEL"])
        #expect(caughtUp.count == 1)
        await watcher.stop()
        try await kv.jetStream.deleteStream(kv.streamName)
        await kv.jetStream.connection.close()
    }

    /// The value each key last had in `entries`.
    static func latestValues(in entries: [KeyValueEntry]) -> [String: String] {
        entries.reduce(into: [:]) { $0[$1.key] = String(buffer: $1.value) }
    }

    @Test func watcherOfAnEmptyBucketIsCaughtUpAtOnce() async throws {
        let kv = try await Self.bucket()
        let caughtUp = Inbox<Bool>()
        let events = Inbox<String>()
        let watcher = KeyValueWatcher(bucket: kv, onCaughtUp: { caughtUp.add(true) }) { events.add($0.key) }
        await watcher.start()
        _ = try await caughtUp.wait(for: 1)
        try await kv.put("x", ByteBuffer(string: "1"))
        #expect(try await events.wait(for: 1) == ["x"])
        await watcher.stop()
        try await kv.jetStream.deleteStream(kv.streamName)
        await kv.jetStream.connection.close()
    }

    /// Entries vanish after the bucket's TTL: what node leases rely on.
    @Test func entriesExpireAfterTheTTL() async throws {
        let kv = try await Self.bucket(ttl: .seconds(1))
        try await kv.put("lease", ByteBuffer(string: "alive"))
        #expect(try await kv.get("lease") != nil)
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(try await kv.get("lease") == nil)
        try await kv.jetStream.deleteStream(kv.streamName)
        await kv.jetStream.connection.close()
    }
}
