import Foundation

/// A business calendar laid out as UTC intervals over a span of years, each carrying the business
/// seconds counted before it: what SLA and OLA clocks count in. Elapsed business time between two
/// instants is the difference of their positions on the timeline, and the instant a duration ends
/// is a binary search, so a clock costs the same over a day or a year.
///
/// The SLA projection writes these intervals to a table, and the SQL functions its views call read
/// them there, so figures computed when read agree with those stored.
public struct BusinessTimeline: Sendable {
    public struct Interval: Sendable, Equatable {
        /// Seconds since 1970, UTC.
        public var start: Int64
        public var end: Int64
        /// Business seconds in every interval before this one.
        public var before: Int64
        public var after: Int64 { before + end - start }
    }

    /// Years laid out by default: instants outside them count no business time.
    public static let defaultYears = 2010..<2040

    public let calendar: String
    public let intervals: [Interval]

    public init(_ calendar: BusinessCalendar, years: Range<Int> = BusinessTimeline.defaultYears) {
        self.calendar = calendar.name
        let zone = TimeZone(identifier: calendar.timeZone) ?? TimeZone(identifier: "UTC")!
        let holidays = Set(calendar.holidays.compactMap(CivilDate.dayNumber))
        var spans: [(Int64, Int64)] = []
        let first = CivilDate.dayNumber(year: years.lowerBound, month: 1, day: 1)
        let last = CivilDate.dayNumber(year: years.upperBound, month: 1, day: 1)
        for day in first..<last where !holidays.contains(day) {
            // Day 0 (1970-01-01) was a Thursday; weekdays count 1 = Monday … 7 = Sunday.
            let weekday = Int(((day % 7) + 7 + 3) % 7) + 1
            for hours in calendar.weeklyHours[weekday] ?? [] {
                let opens = Self.utc(local: day * 86_400 + Int64(hours.opens) * 60, zone)
                let closes = Self.utc(local: day * 86_400 + Int64(hours.closes) * 60, zone)
                if closes > opens { spans.append((opens, closes)) }
            }
        }
        spans.sort { $0.0 < $1.0 }
        var merged: [Interval] = []
        var before: Int64 = 0
        for (start, end) in spans {
            if let last = merged.last, start <= last.end {
                // Overlapping opening hours (or a DST fold) count once.
                if end > last.end {
                    before += end - last.end
                    merged[merged.count - 1].end = end
                }
                continue
            }
            merged.append(Interval(start: start, end: end, before: before))
            before += end - start
        }
        intervals = merged
    }

    /// The business seconds counted before `instant` on this timeline.
    public func position(_ instant: Date) -> Double {
        let t = instant.timeIntervalSince1970
        // The last interval starting at or before t.
        var low = 0
        var high = intervals.count
        while low < high {
            let mid = (low + high) / 2
            if Double(intervals[mid].start) <= t { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return 0 }
        let interval = intervals[low - 1]
        return Double(interval.before) + min(t, Double(interval.end)) - Double(interval.start)
    }

    /// Business seconds from `start` to `end` (negative when `end` is earlier).
    public func seconds(from start: Date, to end: Date) -> Double { position(end) - position(start) }

    /// The instant `seconds` of business time after `start`; `start` itself for zero or less.
    /// Past the last interval the rest counts around the clock.
    public func adding(_ seconds: Double, to start: Date) -> Date {
        guard seconds > 0 else { return start }
        let target = position(start) + seconds
        var low = 0
        var high = intervals.count
        while low < high {
            let mid = (low + high) / 2
            if Double(intervals[mid].after) < target { low = mid + 1 } else { high = mid }
        }
        guard low < intervals.count else {
            let end = intervals.last.map { Double($0.end) } ?? start.timeIntervalSince1970
            let counted = intervals.last.map { Double($0.after) } ?? position(start)
            return Date(timeIntervalSince1970: max(end, start.timeIntervalSince1970) + target - counted)
        }
        let interval = intervals[low]
        return Date(timeIntervalSince1970: Double(interval.start) + target - Double(interval.before))
    }

    /// The UTC instant of a local wall-clock time in `zone` (the later offset in a DST gap).
    private static func utc(local: Int64, _ zone: TimeZone) -> Int64 {
        let first = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local))))
        let second = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local - first))))
        return local - second
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar, without Foundation's calendars.
enum CivilDate {
    static func dayNumber(year: Int, month: Int, day: Int) -> Int64 {
        // Howard Hinnant's days_from_civil.
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The day number of `YYYY-MM-DD`, nil for anything else.
    static func dayNumber(_ text: String) -> Int64? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return dayNumber(year: parts[0], month: parts[1], day: parts[2])
    }
}
