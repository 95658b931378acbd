import Foundation

/// A business calendar laid out as UTC intervals over a span of years, each carrying the business
/// seconds counted before it: what SLA and OLA clocks count in. Elapsed business time between two
/// instants is the difference of their positions on the timeline, and the instant a duration ends
/// is a binary search, so a clock costs the same over a day or a year.
///
/// An instant is business time when its wall-clock reading in the calendar's zone is inside that
/// day's opening hours and the date is no holiday: at a DST change wall times that are skipped
/// never count, and those that repeat count each time they occur.
///
/// The SLA projection writes these intervals to a table, and the SQL functions its views call read
/// them there, so figures computed when read agree with those stored. Clocks count in whole
/// microseconds (`position(micros:)`, `adding(micros:to:)`), the resolution of the log's times,
/// so that a stop exactly at a deadline is exactly at it.
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
    public static let defaultYears = BusinessCalendar.horizon

    public let calendar: String
    public let intervals: [Interval]
    /// Seconds since 1970 (UTC) at which the calendar's known holidays end (the end of its last
    /// resolved day, `BusinessCalendar.holidaysKnownThrough`): counting past it is a guess.
    public let knownUntil: Int64

    public init(_ calendar: BusinessCalendar, years: Range<Int> = BusinessTimeline.defaultYears) {
        self.calendar = calendar.name
        let zone = TimeZone(identifier: calendar.timeZone) ?? TimeZone(identifier: "UTC")!
        let holidays = Set(calendar.resolvedHolidays(years: years).map(\.day))
        let first = CivilDate.dayNumber(year: years.lowerBound, month: 1, day: 1)
        let last = CivilDate.dayNumber(year: years.upperBound, month: 1, day: 1)
        let offsets = ZoneOffsets(zone, from: first * 86_400 - 2 * 86_400, to: last * 86_400 + 2 * 86_400)
        var spans: [(Int64, Int64)] = []
        for day in first..<last where !holidays.contains(day) {
            for hours in calendar.weeklyHours[CivilDate.weekday(day)] ?? [] {
                offsets.instants(readingFrom: day * 86_400 + Int64(hours.opens) * 60, to: day * 86_400 + Int64(hours.closes) * 60, into: &spans)
            }
        }
        spans.sort { $0.0 < $1.0 }
        var merged: [Interval] = []
        var before: Int64 = 0
        for (start, end) in spans {
            if let last = merged.last, start <= last.end {
                // Overlapping opening hours count once.
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
        let knownThrough = calendar.holidaysKnownThrough(years: years)
        var midnight: [(Int64, Int64)] = []
        offsets.instants(readingFrom: (knownThrough + 1) * 86_400, to: (knownThrough + 2) * 86_400, into: &midnight)
        knownUntil = midnight.first?.0 ?? (knownThrough + 1) * 86_400
    }

    /// Whole microseconds since 1970 of `date`, as the log stores its times.
    public static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The instant `micros` microseconds after 1970, built as the log's times are.
    public static func date(micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    /// The business microseconds counted before the instant `t` (microseconds since 1970).
    public func position(micros t: Int64) -> Int64 {
        // The last interval starting at or before t.
        var low = 0
        var high = intervals.count
        while low < high {
            let mid = (low + high) / 2
            if intervals[mid].start * 1_000_000 <= t { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return 0 }
        let interval = intervals[low - 1]
        return interval.before * 1_000_000 + min(t, interval.end * 1_000_000) - interval.start * 1_000_000
    }

    /// The instant (microseconds since 1970) `micros` business microseconds after `start`: the
    /// first at which that much has been counted; `start` itself for zero or less. Past the last
    /// interval the rest counts around the clock (past `knownUntil`, which callers report).
    public func adding(micros: Int64, to start: Int64) -> Int64 {
        guard micros > 0 else { return start }
        let target = position(micros: start) + micros
        var low = 0
        var high = intervals.count
        while low < high {
            let mid = (low + high) / 2
            if intervals[mid].after * 1_000_000 < target { low = mid + 1 } else { high = mid }
        }
        guard low < intervals.count else {
            let end = intervals.last.map { $0.end * 1_000_000 } ?? start
            let counted = intervals.last.map { $0.after * 1_000_000 } ?? position(micros: start)
            return max(end, start) + target - counted
        }
        let interval = intervals[low]
        return interval.start * 1_000_000 + target - interval.before * 1_000_000
    }

    /// The business seconds counted before `instant` on this timeline.
    public func position(_ instant: Date) -> Double { Double(position(micros: Self.micros(instant))) / 1_000_000 }

    /// Business seconds from `start` to `end` (negative when `end` is earlier).
    public func seconds(from start: Date, to end: Date) -> Double { position(end) - position(start) }

    /// The instant `seconds` of business time after `start` (to the microsecond); `start` itself
    /// for zero or less. Past the last interval the rest counts around the clock.
    public func adding(_ seconds: Double, to start: Date) -> Date {
        guard seconds > 0 else { return start }
        return Self.date(micros: adding(micros: Int64((seconds * 1_000_000).rounded()), to: Self.micros(start)))
    }
}

/// A time zone's UTC offsets over a span: where they change, and what they are between.
struct ZoneOffsets {
    /// UTC seconds at which the offset changes, ascending.
    private var changes: [Int64] = []
    /// `offsets[i]` holds before `changes[i]` (and from `changes[i - 1]` on).
    private var offsets: [Int64]

    init(_ zone: TimeZone, from: Int64, to: Int64) {
        func offset(_ t: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))) }
        var current = offset(from)
        offsets = [current]
        var t = from
        // Offsets change at most a few times a year: a reading a day finds each change, a binary
        // search its second.
        while t < to {
            let next = min(t + 86_400, to)
            guard offset(next) != current else {
                t = next
                continue
            }
            var low = t
            var high = next
            while high - low > 1 {
                let mid = low + (high - low) / 2
                if offset(mid) == current { low = mid } else { high = mid }
            }
            current = offset(high)
            changes.append(high)
            offsets.append(current)
            t = high
        }
    }

    /// Appends the UTC spans of the instants whose wall-clock reading is in `[from, to)` (local
    /// seconds, as if the zone were UTC): one span per offset in force, so a reading skipped by a
    /// change gives none and a repeated one two.
    func instants(readingFrom from: Int64, to: Int64, into spans: inout [(Int64, Int64)]) {
        // Offsets lie within ±18 h, so only changes within that of the reading matter.
        var index = firstChange(after: from - 18 * 3_600)
        while true {
            let offset = offsets[index]
            let segmentStart = index == 0 ? Int64.min : changes[index - 1]
            let segmentEnd = index == changes.count ? Int64.max : changes[index]
            let start = max(from - offset, segmentStart)
            let end = min(to - offset, segmentEnd)
            if end > start {
                if let last = spans.last, last.1 == start { spans[spans.count - 1].1 = end } else { spans.append((start, end)) }
            }
            guard index < changes.count, changes[index] < to + 18 * 3_600 else { return }
            index += 1
        }
    }

    /// The number of changes at or before `t`: the index of the offset in force at `t`.
    private func firstChange(after t: Int64) -> Int {
        var low = 0
        var high = changes.count
        while low < high {
            let mid = (low + high) / 2
            if changes[mid] <= t { low = mid + 1 } else { high = mid }
        }
        return low
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

    /// 1 = Monday … 7 = Sunday. Day 0 (1970-01-01) was a Thursday.
    static func weekday(_ day: Int64) -> Int { Int(((day % 7) + 7 + 3) % 7) + 1 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `YYYY-MM-DD` of a day number (Howard Hinnant's civil_from_days).
    static func text(_ day: Int64) -> String {
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(dayOfMonth))"
    }
}
