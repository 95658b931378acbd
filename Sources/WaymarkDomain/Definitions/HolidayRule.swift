/// A closed day of a business calendar as operators write it in `calendars.yaml`: a rule that
/// gives its date in each year, or one explicit date for a one-off closure.
///
/// - `2026-12-24`: that day only;
/// - `12-25`: the 25th of December every year;
/// - `easter`, `easter-2`, `easter+1`: days from Easter Sunday (Gregorian);
/// - `4th thursday of november`, `last monday of may`: a weekday of a month;
/// - written as `{date: "07-04", name: "Independence Day", observed: nearest-weekday}`, a holiday
///   falling on a Saturday is kept on the Friday before, on a Sunday on the Monday after.
public struct Holiday: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case once(year: Int, month: Int, day: Int)
        case yearly(month: Int, day: Int)
        case easter(offset: Int)
        /// `ordinal` 1…4, or -1 for the last; `weekday` 1 = Monday … 7 = Sunday.
        case weekdayOfMonth(ordinal: Int, weekday: Int, month: Int)
    }

    public var rule: Rule
    /// Moves a date on a weekend to the nearest weekday (Saturday to Friday, Sunday to Monday).
    public var observedOnNearestWeekday: Bool
    public var name: String?
    /// The rule as written.
    public var text: String

    public init(rule: Rule, observedOnNearestWeekday: Bool = false, name: String? = nil, text: String) {
        self.rule = rule
        self.observedOnNearestWeekday = observedOnNearestWeekday
        self.name = name
        self.text = text
    }

    /// Whether the rule gives a date every year (an explicit date does not).
    public var recurs: Bool {
        if case .once = rule { return false }
        return true
    }

    /// The day number (days since 1970-01-01) the rule gives for `year`, after the observed rule;
    /// nil when it gives none that year (an explicit date of another year).
    func day(in year: Int) -> Int64? {
        let day: Int64
        switch rule {
        case .once(let onceYear, let month, let dayOfMonth):
            guard onceYear == year else { return nil }
            day = CivilDate.dayNumber(year: year, month: month, day: dayOfMonth)
        case .yearly(let month, let dayOfMonth):
            day = CivilDate.dayNumber(year: year, month: month, day: dayOfMonth)
        case .easter(let offset):
            day = Self.easterSunday(year) + Int64(offset)
        case .weekdayOfMonth(let ordinal, let weekday, let month):
            if ordinal > 0 {
                let first = CivilDate.dayNumber(year: year, month: month, day: 1)
                day = first + Int64((weekday - CivilDate.weekday(first) + 7) % 7) + Int64(ordinal - 1) * 7
            } else {
                let last = CivilDate.dayNumber(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) - 1
                day = last - Int64((CivilDate.weekday(last) - weekday + 7) % 7)
            }
        }
        guard observedOnNearestWeekday else { return day }
        switch CivilDate.weekday(day) {
        case 6: return day - 1
        case 7: return day + 1
        default: return day
        }
    }

    /// Easter Sunday of `year` in the Gregorian calendar (the anonymous algorithm of Meeus, Jones
    /// and Butcher), as a day number.
    static func easterSunday(_ year: Int) -> Int64 {
        let a = year % 19
        let b = year / 100
        let c = year % 100
        let d = b / 4
        let e = b % 4
        let f = (b + 8) / 25
        let g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4
        let k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = (h + l - 7 * m + 114) % 31 + 1
        return CivilDate.dayNumber(year: year, month: month, day: day)
    }

    static let months = [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    ]
    static let ordinals: [String: Int] = [
        "1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4, "last": -1,
    ]

    /// The rule `text` writes, or why it is none.
    static func parse(_ text: String) -> Result<Rule, HolidayRuleProblem> {
        let lowered = text.lowercased().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        if lowered == "easter" { return .success(.easter(offset: 0)) }
        if lowered.hasPrefix("easter") {
            let rest = lowered.dropFirst("easter".count)
            guard let sign = rest.first, sign == "+" || sign == "-", let days = Int(rest.dropFirst()), rest.dropFirst().allSatisfy(\.isNumber),
                days <= 200
            else {
                return .failure(HolidayRuleProblem("'\(text)' is not an offset from Easter such as easter-2 or easter+1 (at most 200 days)"))
            }
            return .success(.easter(offset: sign == "-" ? -days : days))
        }
        let words = lowered.split(separator: " ").map(String.init)
        if words.count == 4, words[2] == "of" {
            guard let ordinal = ordinals[words[0]] else {
                let hint = words[0] == "5th" || words[0] == "fifth" ? " (a 5th weekday is not in every month; write last)" : ""
                return .failure(HolidayRuleProblem("'\(words[0])' in '\(text)' is not 1st, 2nd, 3rd, 4th or last\(hint)"))
            }
            guard let weekday = BusinessCalendar.weekdays.firstIndex(of: words[1]) else {
                return .failure(HolidayRuleProblem("'\(words[1])' in '\(text)' is not a weekday; use monday … sunday"))
            }
            guard let month = months.firstIndex(of: words[3]) else {
                return .failure(HolidayRuleProblem("'\(words[3])' in '\(text)' is not a month; use january … december"))
            }
            return .success(.weekdayOfMonth(ordinal: ordinal, weekday: weekday + 1, month: month + 1))
        }
        let parts = lowered.split(separator: "-", omittingEmptySubsequences: false)
        if parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
            if parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2, let year = Int(parts[0]), let month = Int(parts[1]),
                let day = Int(parts[2])
            {
                guard (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day) else {
                    return .failure(HolidayRuleProblem("'\(text)' is not a date: \(year) has no day \(parts[1])-\(parts[2])"))
                }
                return .success(.once(year: year, month: month, day: day))
            }
            if parts.count == 2, parts[0].count == 2, parts[1].count == 2, let month = Int(parts[0]), let day = Int(parts[1]) {
                guard (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: 2027)).contains(day) else {
                    return .failure(HolidayRuleProblem("'\(text)' is not a day that comes every year (MM-DD, such as 12-25)"))
                }
                return .success(.yearly(month: month, day: day))
            }
        }
        return .failure(
            HolidayRuleProblem(
                "'\(text)' is not a holiday: write a date (2026-12-24), a day every year (12-25), an offset from Easter (easter-2, easter+1) "
                    + "or a weekday of a month (4th thursday of november, last monday of may)"))
    }
}

/// Why a holiday as written is no rule.
struct HolidayRuleProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// A holiday resolved to its date in a year.
public struct ResolvedHoliday: Sendable, Equatable {
    /// `YYYY-MM-DD` in the calendar's time zone.
    public var date: String
    /// 1 = Monday … 7 = Sunday.
    public var weekday: Int
    public var holiday: Holiday
    /// Days since 1970-01-01.
    var day: Int64
}

extension BusinessCalendar {
    /// The years a calendar's holiday rules are resolved for, and its timeline laid out over.
    public static let horizon = 2010..<2040

    /// Every holiday of `years`, by date (a rule's date in the year before or after counts when
    /// the observed rule moves it into `years`).
    public func resolvedHolidays(years: Range<Int>) -> [ResolvedHoliday] {
        let first = CivilDate.dayNumber(year: years.lowerBound, month: 1, day: 1)
        let end = CivilDate.dayNumber(year: years.upperBound, month: 1, day: 1)
        var resolved: [ResolvedHoliday] = []
        for year in (years.lowerBound - 1)...(years.upperBound) {
            for holiday in holidays {
                guard let day = holiday.day(in: year), day >= first, day < end else { continue }
                resolved.append(ResolvedHoliday(date: CivilDate.text(day), weekday: CivilDate.weekday(day), holiday: holiday, day: day))
            }
        }
        return resolved.sorted { ($0.day, $0.holiday.text) < ($1.day, $1.holiday.text) }
    }

    /// The last day whose holidays are known, as a day number, within `years`: the horizon's
    /// end when a rule recurs or no holiday is written; else the end of the year of the last
    /// explicit date. Business time after it is counted as if that year had no holidays.
    func holidaysKnownThrough(years: Range<Int>) -> Int64 {
        let horizonEnd = CivilDate.dayNumber(year: years.upperBound, month: 1, day: 1) - 1
        guard !holidays.isEmpty, !holidays.contains(where: \.recurs) else { return horizonEnd }
        let lastYear = holidays.compactMap { holiday -> Int? in
            if case .once(let year, _, _) = holiday.rule { return year }
            return nil
        }.max()!
        return min(horizonEnd, CivilDate.dayNumber(year: lastYear + 1, month: 1, day: 1) - 1)
    }

    /// `YYYY-MM-DD` of the last day whose holidays are known within the horizon.
    public var holidaysKnownThrough: String { CivilDate.text(holidaysKnownThrough(years: Self.horizon)) }
}
