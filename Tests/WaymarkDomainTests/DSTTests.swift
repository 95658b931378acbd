import Foundation
import PropertyBased
import Testing
import WaymarkDomain

/// A calendar of `zone` with `hours` on every day listed.
private func calendar(_ zone: String, _ hours: [String: [String]], holidays: [String] = []) throws -> BusinessCalendar {
    let days = hours.map { day, ranges in "      \(day): [\(ranges.map { "\"\($0)\"" }.joined(separator: ", "))]" }.joined(separator: "\n")
    let listed = holidays.isEmpty ? "" : "    holidays:\n" + holidays.map { "      - \($0)" }.joined(separator: "\n")
    let yaml = "calendars:\n  c:\n    time_zone: \(zone)\n    hours:\n\(days)\n\(listed)"
    return try DefinitionLoader.parseCalendars(yaml, file: "calendars.yaml")["c"]!
}

private func instant(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

/// Business seconds from `start` for `minutes` minutes, counted minute by minute from each
/// minute's wall-clock reading: inside that day's hours and the date no holiday. Independent of
/// `BusinessTimeline`; exact where offsets and hours change on whole minutes.
private func bruteForce(_ calendar: BusinessCalendar, from start: Date, minutes: Int) -> Int {
    let zone = TimeZone(identifier: calendar.timeZone)!
    let years = Calendar(identifier: .gregorian).component(.year, from: start)
    let holidays = Set(calendar.resolvedHolidays(years: (years - 1)..<(years + 2)).map(\.date))
    var utc = Calendar(identifier: .gregorian)
    utc.timeZone = TimeZone(identifier: "UTC")!
    var counted = 0
    for minute in 0..<minutes {
        let t = start.addingTimeInterval(Double(minute * 60))
        let local = t.addingTimeInterval(Double(zone.secondsFromGMT(for: t)))
        let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: local)
        let date = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
        // Foundation's weekday: 1 = Sunday; the calendar's: 1 = Monday.
        let weekday = (parts.weekday! + 5) % 7 + 1
        let reading = parts.hour! * 60 + parts.minute!
        guard !holidays.contains(date), (calendar.weeklyHours[weekday] ?? []).contains(where: { $0.opens <= reading && reading < $0.closes }) else {
            continue
        }
        counted += 60
    }
    return counted
}

@Suite("Business hours at DST changes")
struct DSTTests {
    @Test("New York (west of UTC): Sunday 01:30-02:30 counts 30 min on 8 March 2026 and 90 min on 1 November; 00:00-02:00 keeps 2 h in March")
    func newYork() throws {
        let early = BusinessTimeline(try calendar("America/New_York", ["sunday": ["01:30-02:30"]]))
        #expect(early.seconds(from: instant("2026-03-08T00:00:00Z"), to: instant("2026-03-09T00:00:00Z")) == 30 * 60)
        #expect(early.seconds(from: instant("2026-11-01T00:00:00Z"), to: instant("2026-11-02T00:00:00Z")) == 90 * 60)
        #expect(early.seconds(from: instant("2026-03-01T00:00:00Z"), to: instant("2026-03-02T00:00:00Z")) == 60 * 60)
        let night = BusinessTimeline(try calendar("America/New_York", ["sunday": ["00:00-02:00"]]))
        #expect(night.seconds(from: instant("2026-03-08T00:00:00Z"), to: instant("2026-03-09T00:00:00Z")) == 2 * 3_600)
        #expect(night.adding(2 * 3_600, to: instant("2026-03-08T00:00:00Z")) == instant("2026-03-08T07:00:00Z"))
        // In November 01:00-02:00 repeats: 00:00-01:00 EDT, 01:00-02:00 EDT, 01:00-02:00 EST.
        #expect(night.seconds(from: instant("2026-11-01T00:00:00Z"), to: instant("2026-11-02T00:00:00Z")) == 3 * 3_600)
    }

    @Test("Berlin (east of UTC): 29 March 2026 skips 02:00-03:00, 25 October 2026 repeats it")
    func berlin() throws {
        let early = BusinessTimeline(try calendar("Europe/Berlin", ["sunday": ["01:30-02:30"]]))
        #expect(early.seconds(from: instant("2026-03-28T12:00:00Z"), to: instant("2026-03-29T12:00:00Z")) == 30 * 60)
        // 01:30-02:30 CEST, then 02:00-02:30 CET.
        #expect(early.seconds(from: instant("2026-10-24T12:00:00Z"), to: instant("2026-10-25T12:00:00Z")) == 90 * 60)
        let night = BusinessTimeline(try calendar("Europe/Berlin", ["sunday": ["00:00-02:00", "02:00-03:00"]]))
        #expect(night.seconds(from: instant("2026-03-28T12:00:00Z"), to: instant("2026-03-29T12:00:00Z")) == 2 * 3_600)
        #expect(night.seconds(from: instant("2026-10-24T12:00:00Z"), to: instant("2026-10-25T12:00:00Z")) == 4 * 3_600)
        // The 25 October day of 00:00-24:00 lasts 25 hours.
        let all = BusinessTimeline(try calendar("Europe/Berlin", ["sunday": ["00:00-24:00"]]))
        #expect(all.seconds(from: instant("2026-10-24T12:00:00Z"), to: instant("2026-10-26T12:00:00Z")) == 25 * 3_600)
        #expect(all.seconds(from: instant("2026-03-28T12:00:00Z"), to: instant("2026-03-30T12:00:00Z")) == 23 * 3_600)
    }

    /// Random calendars in zones west and east of UTC (Santiago changes at midnight, Lord Howe by
    /// half an hour), split days, hours around the changes, holidays as rules (some on the very
    /// day of a change); windows around the zone's changes and anywhere in the horizon.
    @Test("property: the timeline counts exactly what the wall clock reads, and adding finds the first instant that reaches the count")
    func wallClockProperty() async {
        let zones = ["America/New_York", "America/Los_Angeles", "America/Santiago", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe"]
        let rules = [
            "\"12-25\"", "easter-2", "easter+1", "4th thursday of november", "last sunday of march", "1st sunday of november",
            "last sunday of october", "{date: \"03-08\", observed: nearest-weekday}", "\"2026-04-05\"",
        ]
        var compared = 0
        await propertyCheck(count: 60, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            var random = SplitMix(seed: UInt64(seed))
            let zone = zones[Int.random(in: 0..<zones.count, using: &random)]
            var hours: [String: [String]] = [:]
            for day in BusinessCalendar.weekdays where random.next() % 4 != 0 {
                var cuts = Set<Int>()
                let ranges = random.next() % 2 == 0 ? 1 : 2
                while cuts.count < 2 * ranges { cuts.insert(Int.random(in: 0...48, using: &random)) }
                let sorted = cuts.sorted()
                hours[day] = stride(from: 0, to: sorted.count, by: 2).map {
                    String(format: "%02d:%02d-%02d:%02d", sorted[$0] / 2, sorted[$0] % 2 * 30, sorted[$0 + 1] / 2, sorted[$0 + 1] % 2 * 30)
                }
            }
            if hours.isEmpty { hours["sunday"] = ["01:30-02:30"] }
            let holidays = rules.filter { _ in random.next() % 3 == 0 }
            let business: BusinessCalendar
            do {
                business = try calendar(zone, hours, holidays: holidays)
            } catch {
                Issue.record("seed \(seed): \(zone) \(hours) \(holidays): \(error)")
                return
            }
            let timeline = BusinessTimeline(business, years: 2024..<2029)
            // Near one of the zone's changes in 2026 or 2027, or anywhere in those years.
            let year = Date(timeIntervalSince1970: 1_767_225_600 + Double(random.next() % 2) * 31_536_000)
            let around = TimeZone(identifier: zone)!.nextDaylightSavingTimeTransition(after: year.addingTimeInterval(Double(random.next() % (300 * 86_400))))!
            let anywhere = year.addingTimeInterval(Double(random.next() % (360 * 86_400)))
            let middle = random.next() % 4 == 0 ? anywhere : around
            let start = Date(timeIntervalSince1970: (middle.timeIntervalSince1970 / 60).rounded(.down) * 60 - Double(random.next() % (3 * 1_440)) * 60)
            let minutes = 60 + Int(random.next() % (5 * 1_440))
            let expected = bruteForce(business, from: start, minutes: minutes)
            let end = start.addingTimeInterval(Double(minutes * 60))
            #expect(Int(timeline.seconds(from: start, to: end)) == expected, "seed \(seed): \(zone) \(hours) \(holidays) from \(start) to \(end)")
            if expected > 0 {
                let count = 60 * (1 + Int(random.next() % UInt64(expected / 60)))
                let reached = timeline.adding(Double(count), to: start)
                let reachedMinutes = Int(reached.timeIntervalSince(start) / 60)
                #expect(bruteForce(business, from: start, minutes: reachedMinutes) == count, "seed \(seed): \(count) s after \(start) is \(reached)")
                #expect(bruteForce(business, from: start, minutes: reachedMinutes - 1) < count, "seed \(seed): \(reached) is not the first")
            }
            compared += 1
        }
        #expect(compared == 60)
    }
}

/// SplitMix64, for inputs that follow from a seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
