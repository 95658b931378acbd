import Foundation
import Testing
import WaymarkDomain

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("every instant written as the log writes it reads back to the microsecond, also at an offset")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let formatter = ISO8601DateFormatter()
        for _ in 0..<2_000 {
            let micros = Int64.random(in: -2_000_000_000_000_000...4_000_000_000_000_000, using: &generator)
            let date = BusinessTimeline.date(micros: micros)
            let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
            let fraction = micros - seconds * 1_000_000
            let whole = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            let text = String(whole.dropLast()) + "." + String(format: "%06lld", fraction) + "Z"
            #expect(RFC3339.date(text) == date, "\(text)")
            // The same instant written at +05:30.
            formatter.timeZone = TimeZone(secondsFromGMT: 19_800)
            let shifted = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            formatter.timeZone = TimeZone(secondsFromGMT: 0)
            let shiftedText = String(shifted.dropLast(6)) + "." + String(format: "%06lld", fraction) + "+05:30"
            #expect(RFC3339.date(shiftedText) == date, "\(shiftedText)")
        }
    }

    @Test("fractions of any length, lower-case separators, and offsets either side of UTC")
    func forms() {
        let base = Date(timeIntervalSince1970: 1_796_544_000)
        #expect(RFC3339.date("2026-12-06T08:00:00Z") == base)
        #expect(RFC3339.date("2026-12-06t08:00:00z") == base)
        #expect(RFC3339.date("2026-12-06T08:00:00.5Z") == base.addingTimeInterval(0.5))
        #expect(RFC3339.date("2026-12-06T08:00:00.123456789Z") == BusinessTimeline.date(micros: 1_796_544_000_123_456))
        #expect(RFC3339.date("2026-12-06T10:00:00+02:00") == base)
        #expect(RFC3339.date("2026-12-06T02:30:00-05:30") == base)
        #expect(RFC3339.date("2024-02-29T00:00:00Z") != nil)
    }

    @Test("what is not an RFC 3339 instant is refused, rather than rolled over")
    func refusals() {
        for text in [
            "2026-02-30T08:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-06T24:00:00Z",
            "2026-12-06T08:60:00Z", "2026-12-06T08:00:60Z", "2026-12-06T08:00:00", "2026-12-06 08:00:00Z", "2026-12-06T08:00:00.Z",
            "2026-12-06T08:00:00+2:00", "2026-12-06T08:00:00+02:00x", "2026-12-06T08:00:00Zx", "0000-01-01T00:00:00Z", "yesterday", "",
            "２０２６-12-06T08:00:00Z",
        ] {
            #expect(RFC3339.date(text) == nil, "\(text)")
        }
    }
}
