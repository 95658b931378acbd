import Foundation

/// RFC 3339 timestamps (`2026-12-06T08:00:00Z`, `2026-12-06T08:00:00.123456+02:00`), read strictly
/// and without Foundation's formatters (an ICU formatter per call is most of a request's CPU):
/// every field in range (no 30 February, no hour 24, no leap second), an offset required,
/// fractions kept to the microsecond as the log keeps them (digits past the sixth are dropped).
public enum RFC3339 {
    public static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ index: Int, _ allowed: String) -> Bool { index < bytes.count && allowed.utf8.contains(bytes[index]) }
        guard let year = number(0, 4), byte(4, "-"), let month = number(5, 2), byte(7, "-"), let day = number(8, 2), byte(10, "Tt"),
            let hour = number(11, 2), byte(13, ":"), let minute = number(14, 2), byte(16, ":"), let second = number(17, 2),
            year >= 1, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if byte(index, ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if index - start < 6 { micros = micros * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
            guard index > start else { return nil }
            for _ in min(index - start, 6)..<6 { micros *= 10 }
        }
        let offsetSeconds: Int
        if byte(index, "Zz") {
            guard index + 1 == bytes.count else { return nil }
            offsetSeconds = 0
        } else {
            guard byte(index, "+-"), let hours = number(index + 1, 2), byte(index + 3, ":"), let minutes = number(index + 4, 2),
                index + 6 == bytes.count, hours < 24, minutes < 60
            else { return nil }
            offsetSeconds = (bytes[index] == UInt8(ascii: "-") ? -1 : 1) * (hours * 3_600 + minutes * 60)
        }
        let seconds = Int64(daysSince1970(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3_600 + minute * 60 + second - offsetSeconds)
        return BusinessTimeline.date(micros: seconds * 1_000_000 + micros)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to the civil date (proleptic Gregorian).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let shifted = month <= 2 ? year - 1 : year
        let era = (shifted >= 0 ? shifted : shifted - 399) / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
