import Foundation
import Testing
import WharfTestSupport

@testable import WharfNATS

@Suite struct JetStreamAPIDurationTests {
    @Test func durationsAreNanosecondsOnTheWire() {
        #expect(Duration.seconds(30).jetStreamNanoseconds == 30_000_000_000)
        #expect(Duration.milliseconds(700).jetStreamNanoseconds == 700_000_000)
        #expect(Duration.nanoseconds(1).jetStreamNanoseconds == 1)
        #expect(Duration.zero.jetStreamNanoseconds == 0)
        #expect(Duration.milliseconds(-1500).jetStreamNanoseconds == -1_500_000_000)
        #expect(Duration(jetStreamNanoseconds: 120_000_000_000) == .seconds(120))
    }

    @Test func subNanosecondPartsAreDropped() {
        let duration = Duration.nanoseconds(5) + Duration(secondsComponent: 0, attosecondsComponent: 999_999_999)
        #expect(duration.jetStreamNanoseconds == 5)
    }

    @Test func hugeDurationsSaturateInsteadOfTrapping() {
        #expect(Duration.seconds(Int64.max).jetStreamNanoseconds == .max)
        #expect(Duration.seconds(Int64.min).jetStreamNanoseconds == .min)
        #expect(Duration.seconds(9_223_372_036).jetStreamNanoseconds == 9_223_372_036_000_000_000)
        #expect(Duration.seconds(9_223_372_037).jetStreamNanoseconds == .max)
    }

    @Test func everyInt64SurvivesTheRoundTrip() {
        var random = FuzzRandom(seed: 7)
        for value in [Int64.min, .max, 0, 1, -1] + (0..<1000).map({ _ in Int64(bitPattern: random.next()) }) {
            #expect(Duration(jetStreamNanoseconds: value).jetStreamNanoseconds == value)
        }
    }
}

@Suite struct JetStreamAPITimestampTests {
    @Test func parsesTheServersNanosecondTimes() throws {
        let time = try #require(JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.293301308Z"))
        #expect(time.nanoseconds == 293_301_308)
        #expect(time.nanosecondsSinceEpoch == 1_796_490_991_293_301_308)
        #expect(time.rfc3339 == "2026-12-05T17:16:31.293301308Z")
    }

    @Test func theAckSubjectsTimestampIsTheStoredTime() throws {
        // From the same capture: message 1's MSG.GET time and its ack subject's ns.
        let stored = try #require(JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.293301308Z"))
        #expect(JetStreamTimestamp(nanosecondsSinceEpoch: 1_796_490_991_293_301_308) == stored)
    }

    @Test func goZeroTimeMeansNotSet() throws {
        let zero = try #require(JetStreamTimestamp(rfc3339: "0001-01-01T00:00:00Z"))
        #expect(zero.isZero)
        #expect(zero.nanosecondsSinceEpoch == nil)
        #expect(zero.rfc3339 == "0001-01-01T00:00:00Z")
    }

    @Test func shortFractionsAndOffsets() throws {
        // Go trims trailing zeros: ".29586649" is 295,866,490 ns.
        let short = try #require(JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.29586649Z"))
        #expect(short.nanoseconds == 295_866_490)
        #expect(short.rfc3339 == "2026-12-05T17:16:31.29586649Z")
        let offset = try #require(JetStreamTimestamp(rfc3339: "2026-12-05T18:46:31.5+01:30"))
        #expect(offset == JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.5Z"))
        let whole = try #require(JetStreamTimestamp(rfc3339: "1970-01-01T00:00:00Z"))
        #expect(whole.nanosecondsSinceEpoch == 0)
        let before = try #require(JetStreamTimestamp(rfc3339: "1969-12-31T23:59:59.5Z"))
        #expect(before.nanosecondsSinceEpoch == -500_000_000)
        #expect(before.rfc3339 == "1969-12-31T23:59:59.5Z")
        #expect(JetStreamTimestamp(rfc3339: "2024-02-29T00:00:00Z") != nil)
    }

    @Test func rejectsWhatIsNotRFC3339() {
        for text in [
            "", "2026-12-05", "2026-12-05T17:16:31", "2026-12-05 17:16:31Z", "2026-13-05T17:16:31Z", "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z", "2026-12-05T24:00:00Z", "2026-12-05T17:60:00Z", "2026-12-05T17:16:60Z",
            "2026-12-05T17:16:31.Z", "2026-12-05T17:16:31Zjunk", "2026-12-05T17:16:31+0100", "+2026-12-05T17:16:31Z",
            "２026-12-05T17:16:31Z",
        ] {
            #expect(JetStreamTimestamp(rfc3339: text) == nil, "\(text)")
        }
    }

    @Test func formatThenParseIsTheIdentity() {
        var random = FuzzRandom(seed: 42)
        for _ in 0..<2000 {
            // Years 0001 to 9999, any nanosecond.
            let seconds = -62_135_596_800 + Int64(random.next() % 315_537_897_600)
            let time = JetStreamTimestamp(secondsSinceEpoch: seconds, nanoseconds: Int32(random.next() % 1_000_000_000))
            #expect(JetStreamTimestamp(rfc3339: time.rfc3339) == time, "\(time.rfc3339)")
        }
    }

    @Test func nanosecondCountsBeforeTheEpochFloor() {
        let time = JetStreamTimestamp(nanosecondsSinceEpoch: -1)
        #expect(time.secondsSinceEpoch == -1)
        #expect(time.nanoseconds == 999_999_999)
        #expect(time.nanosecondsSinceEpoch == -1)
    }

    @Test func codableAsAString() throws {
        let time = JetStreamTimestamp(secondsSinceEpoch: 1_796_490_991, nanoseconds: 1_000)
        #expect(try encodedRequest([time]) == #"["2026-12-05T17:16:31.000001Z"]"#)
        #expect(try roundTrip([time]) == [time])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([JetStreamTimestamp].self, from: Data(#"["yesterday"]"#.utf8))
        }
    }

    @Test func dateIsClose() throws {
        let time = try #require(JetStreamTimestamp(rfc3339: "2026-12-05T17:16:31.25Z"))
        #expect(abs(time.date.timeIntervalSince1970 - 1_796_490_991.25) < 1e-6)
    }
}
