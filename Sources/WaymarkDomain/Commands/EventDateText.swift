import Foundation

/// Dates in events as ISO 8601 UTC text: whole seconds as `2026-11-26T09:00:00Z` (what events
/// have always stored), a time with a fraction to the microsecond (`…T09:00:00.250000Z`), which a
/// process manager's due time needs to agree with the SLA view's `timestamptz` exactly. Read back
/// from the same whole microseconds, so a parsed time equals the instant the store would return.
enum EventDateText {
    static func text(_ date: Date) -> String {
        let micros = BusinessTimeline.micros(date)
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000
        }
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)
        guard fraction != 0 else { return whole }
        let digits = String(fraction)
        return String(whole.dropLast()) + "." + String(repeating: "0", count: 6 - digits.count) + digits + "Z"
    }

    static func date(_ text: String) -> Date? {
        guard let dot = text.firstIndex(of: ".") else { return try? Date(text, strategy: .iso8601) }
        var end = text.index(after: dot)
        while end < text.endIndex, text[end].isASCII, text[end].isNumber { end = text.index(after: end) }
        let digits = text[text.index(after: dot)..<end]
        guard !digits.isEmpty, let whole = try? Date(String(text[..<dot] + text[end...]), strategy: .iso8601) else { return nil }
        var micros: Int64 = 0
        for (index, digit) in digits.prefix(6).enumerated() { micros += Int64(digit.wholeNumberValue!) * [100_000, 10_000, 1_000, 100, 10, 1][index] }
        return BusinessTimeline.date(micros: BusinessTimeline.micros(whole) + micros)
    }

    static let encoding = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(text(date))
    }

    static let decoding = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = date(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 time")
        }
        return date
    }
}
