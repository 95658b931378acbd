import Foundation

/// A time as ISO 8601 UTC text with microseconds (`2026-11-26T09:00:00.000000Z`): what PostgreSQL
/// reads as a `timestamptz` exactly, in binds, COPY rows and JSON.
///
/// To the nearest microsecond: a time built from whole microseconds (every time read back) may lie
/// a hair below them as a `Double`, and truncating wrote it a microsecond early.
public enum TimestampText {
    public static func iso8601(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        write(date, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `date` as `iso8601` writes it.
    public static func write(_ date: Date, into bytes: inout [UInt8]) {
        write(micros: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()), into: &bytes)
    }

    /// Appends the instant `micros` microseconds after 1970 in UTC.
    static func write(micros: Int64, into bytes: inout [UInt8]) {
        let (days, microsOfDay) = micros.floorDivided(by: 86_400_000_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        func digits(_ value: Int64, _ width: Int) {
            // Only a year before 1 is negative; PostgreSQL refuses the text, as it should.
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            let value = value.magnitude
            var divisor: UInt64 = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
                divisor /= 10
            }
        }
        digits(year, year.magnitude >= 10_000 ? String(year.magnitude).count : 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(seconds / 3_600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(seconds % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(microsOfDay % 1_000_000, 6)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's civil_from_days).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    /// Quotient rounded towards minus infinity, and the remainder that goes with it (never negative).
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}
