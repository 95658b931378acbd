import Foundation

/// Working time that SLA and OLA clocks count in: weekly hours in a time zone, less holidays.
/// Named in `config/calendars.yaml` and referenced by goals.
public struct BusinessCalendar: Sendable, Equatable {
    public var name: String
    /// An IANA time-zone identifier, for example `Europe/Berlin`.
    public var timeZone: String
    /// Opening hours per weekday (1 = Monday … 7 = Sunday); a missing day is closed.
    public var weeklyHours: [Int: [OpeningHours]]
    /// Closed days in the calendar's time zone: rules that give a date each year, or explicit
    /// dates (`Holiday`).
    public var holidays: [Holiday]

    public init(name: String, timeZone: String, weeklyHours: [Int: [OpeningHours]], holidays: [Holiday] = []) {
        self.name = name
        self.timeZone = timeZone
        self.weeklyHours = weeklyHours
        self.holidays = holidays
    }

    public struct OpeningHours: Sendable, Equatable {
        /// Minutes after midnight.
        public var opens: Int
        public var closes: Int

        public init(opens: Int, closes: Int) {
            self.opens = opens
            self.closes = closes
        }
    }

    /// Business minutes in a week.
    public var minutesPerWeek: Int {
        weeklyHours.values.joined().reduce(0) { $0 + ($1.closes - $1.opens) }
    }

    /// The length of a business day, which a `d` in a goal's target means: the week's business
    /// time over its open days (Monday to Thursday 08-18 and Friday 08-16 make 9.6 hours).
    public var businessDaySeconds: Int64 {
        let openDays = weeklyHours.values.filter { !$0.isEmpty }.count
        return openDays == 0 ? 86_400 : Int64(minutesPerWeek) * 60 / Int64(openDays)
    }

    public static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
}

/// A length of time as operators write it: `90m`, `36h`, `5d`, `1d12h`. In a goal with a calendar it
/// counts business time; `d` is then a business day of that calendar's length.
public struct BusinessDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The length around the clock, a `d` counting 24 hours.
    public var seconds: Int64
    /// How many of those are whole days written with `d`, which a calendar counts as business days.
    public var days: Int64

    public init(seconds: Int64, days: Int64 = 0) {
        self.seconds = seconds
        self.days = days
    }

    /// The business seconds this length counts in `calendar`: each `d` a business day of it,
    /// the hours, minutes and seconds as they are. Around the clock without a calendar.
    public func businessSeconds(in calendar: BusinessCalendar?) -> Int64 {
        guard let calendar else { return seconds }
        return seconds - days * 86_400 + days * calendar.businessDaySeconds
    }

    public static func < (lhs: BusinessDuration, rhs: BusinessDuration) -> Bool { (lhs.seconds, lhs.days) < (rhs.seconds, rhs.days) }

    public var description: String {
        var rest = seconds - days * 86_400
        var out = days > 0 ? "\(days)d" : ""
        for (unit, size) in [("h", Int64(3_600)), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    /// Parses `<n><unit>` runs (units d, h, m, s). Nil for anything else, a negative value included.
    public init?(parsing text: String) {
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total: Int64 = 0
        var days: Int64 = 0
        var digits = ""
        var sawUnit = false
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let size = units[character], let value = Int64(digits) {
                let (product, overflow) = value.multipliedReportingOverflow(by: size)
                guard !overflow else { return nil }
                total += product
                if character == "d" { days += value }
                digits = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard digits.isEmpty, sawUnit else { return nil }
        self.seconds = total
        self.days = days
    }
}
