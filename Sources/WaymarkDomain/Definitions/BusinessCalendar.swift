import Foundation

/// Working time that SLA and OLA clocks count in: weekly hours in a time zone, less holidays.
/// Named in `config/calendars.yaml` and referenced by goals.
public struct BusinessCalendar: Sendable, Equatable {
    public var name: String
    /// An IANA time-zone identifier, for example `Europe/Berlin`.
    public var timeZone: String
    /// Opening hours per weekday (1 = Monday … 7 = Sunday); a missing day is closed.
    public var weeklyHours: [Int: [OpeningHours]]
    /// Closed days, as `YYYY-MM-DD` in the calendar's time zone.
    public var holidays: [String]

    public struct OpeningHours: Sendable, Equatable {
        /// Minutes after midnight.
        public var opens: Int
        public var closes: Int
    }

    /// Business minutes in a week.
    public var minutesPerWeek: Int {
        weeklyHours.values.joined().reduce(0) { $0 + ($1.closes - $1.opens) }
    }

    public static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
}

/// A length of time as operators write it: `90m`, `36h`, `5d`, `1d12h`. In a goal with a calendar it
/// counts business time; `d` is then a business day of that calendar's length.
public struct BusinessDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public static func < (lhs: BusinessDuration, rhs: BusinessDuration) -> Bool { lhs.seconds < rhs.seconds }

    public var description: String {
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    /// Parses `<n><unit>` runs (units d, h, m, s). Nil for anything else, a negative value included.
    public init?(parsing text: String) {
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total: Int64 = 0
        var digits = ""
        var sawUnit = false
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let size = units[character], let value = Int64(digits) {
                let (product, overflow) = value.multipliedReportingOverflow(by: size)
                guard !overflow else { return nil }
                total += product
                digits = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard digits.isEmpty, sawUnit else { return nil }
        self.seconds = total
    }
}
